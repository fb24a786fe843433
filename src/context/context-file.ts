// Files the build reads from the context itself (the Dockerfile, .dockerignore) are resolved the way COPY
// sources are: inside the context root, symlinks followed as if the context were `/` (BuildKit's scoping).
// A context from a tarball or a repository is not trusted: `Dockerfile -> /etc/passwd` must not read the host.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError, UsageError } from '../errors.ts';
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

/** The largest Dockerfile read (BuildKit has no bound of its own; real Dockerfiles are kilobytes). */
export const MAX_DOCKERFILE_BYTES = 10 * 1024 * 1024;

/**
 * Reads a Dockerfile at a host path: a missing or unreadable file and one above MAX_DOCKERFILE_BYTES are
 * errors naming the path (the size is checked before the file is read).
 */
export async function readDockerfileText(file: string): Promise<string> {
  try {
    const info = await stat(file);
    if (info.isFile() && info.size > MAX_DOCKERFILE_BYTES) {
      throw new BuildError('DOCKERFILE', `${file}: the Dockerfile is ${info.size} bytes, above the limit of ${MAX_DOCKERFILE_BYTES} (10 MiB)`);
    }
    const text = await readFile(file, 'utf8');
    if (Buffer.byteLength(text) > MAX_DOCKERFILE_BYTES) {
      throw new BuildError('DOCKERFILE', `${file}: the Dockerfile is above the limit of ${MAX_DOCKERFILE_BYTES} bytes (10 MiB)`);
    }
    return text;
  } catch (err) {
    if (err instanceof BuildError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `Dockerfile not found: ${file}` : `cannot read Dockerfile ${file}: ${(err as Error).message}`, {
      hint: 'set --dockerfile to the Dockerfile\'s path (relative paths are looked up in the context too)',
    });
  }
}
