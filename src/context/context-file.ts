// Files the build reads from the context itself (the Dockerfile, .dockerignore) are resolved the way COPY
// sources are: inside the context root, symlinks followed as if the context were `/` (BuildKit's scoping).
// A context from a tarball or a repository is not trusted: `Dockerfile -> /etc/passwd` must not read the host.
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { isWithin, resolveInRootSync } from '../rootfs/resolve.ts';

/**
 * The host path for `file` (a host path or a path relative to the context). Inside the context it is resolved
 * with symlinks scoped to the context; a relative path that climbs out of the context is an error naming
 * `what` (e.g. "--dockerfile"). A host path outside the context (the user's own file) is returned as given.
 */
export function resolveContextFile(contextDir: string, file: string, what: string): string {
  const root = path.resolve(contextDir);
  const host = path.resolve(root, file);
  if (!isWithin(root, host)) {
    if (path.isAbsolute(file)) return host;
    throw new UsageError(`${what} ${file} is outside the build context ${root}`, { hint: 'name a file inside the context, or give its absolute path' });
  }
  return resolveInRootSync(root, path.relative(root, host));
}
