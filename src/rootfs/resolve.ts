// SecureJoin: map a path as seen from inside the build root to a host path that is
// guaranteed to lie inside the root, following symlinks the way the kernel would if the
// root were `/` (absolute link targets restart at the root; `..` never rises above it).
// Semantics follow cyphar/filepath-securejoin; the code is ours.
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.ts';

/** Linux's MAXSYMLINKS is 40; securejoin allows 255. We follow securejoin. */
const maxLinkHops = 255;

export interface ResolveOptions {
  /** Follow the last component if it is a symlink (default true). false: resolve the parent only. */
  readonly followFinal?: boolean;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  // ENOTDIR: a component below a regular file; it cannot exist, so treat it lexically.
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The components of a path, dropping empty ones and '.'. */
function splitComponents(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolve `unsafePath` as if `root` were `/`. Existing symlinks are followed inside the root
 * (at most 255 hops); components that do not exist are appended lexically. The result is an
 * absolute host path inside `root` (or `root` itself).
 */
export async function resolveInRoot(root: string, unsafePath: string, opts: ResolveOptions = {}): Promise<string> {
  return resolveInRootSync(root, unsafePath, opts);
}

/**
 * resolveInRoot without the event loop. Its lstat/readlink calls take microseconds each, a trip through libuv's thread
 * pool ~10× that: extraction and the layer writers call this once per entry.
 */
export function resolveInRootSync(root: string, unsafePath: string, opts: ResolveOptions = {}): string {
  const hostRoot = path.resolve(root);
  if (opts.followFinal === false) {
    const parts = splitComponents(unsafePath);
    const last = parts.pop();
    // '..' as the last name names a directory reached by traversal, never a link to replace.
    if (last !== undefined && last !== '..') {
      const parent = walk(hostRoot, parts, unsafePath);
      return joinHost(hostRoot, parent === '' ? `/${last}` : `${parent}/${last}`);
    }
  }
  return joinHost(hostRoot, walk(hostRoot, splitComponents(unsafePath), unsafePath));
}

function joinHost(hostRoot: string, rootRelative: string): string {
  if (rootRelative === '' || rootRelative === '/') return hostRoot;
  return hostRoot === '/' ? rootRelative : hostRoot + rootRelative;
}

/** Walks the components; returns the resolved path in '/a/b' form ('' for the root itself). */
function walk(hostRoot: string, components: string[], original: string): string {
  // `pending` is a stack (last element = next component) so link targets can be pushed in front.
  const pending = components.slice().reverse();
  let current = '';
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.pop();
    if (part === undefined || part === '' || part === '.') continue;
    if (part === '..') {
      current = current.slice(0, Math.max(0, current.lastIndexOf('/')));
      continue;
    }
    const next = `${current}/${part}`;
    const host = joinHost(hostRoot, next);
    let isLink = false;
    try {
      // throwIfNoEntry: a missing component is common (new paths) and an exception costs more than the call.
      isLink = lstatSync(host, { throwIfNoEntry: false })?.isSymbolicLink() === true;
    } catch (err) {
      if (!isMissing(err)) {
        throw new BuildError('ROOTFS', `cannot resolve ${JSON.stringify(original)} in the build root: lstat ${host}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!isLink) {
      current = next;
      continue;
    }
    hops += 1;
    if (hops > maxLinkHops) {
      throw new BuildError('ROOTFS', `cannot resolve ${JSON.stringify(original)} in the build root: too many levels of symbolic links`);
    }
    const target = readlinkSync(host);
    // Absolute targets are relative to the root: restart from it.
    if (target.startsWith('/')) current = '';
    const targetParts = splitComponents(target);
    for (let i = targetParts.length - 1; i >= 0; i -= 1) {
      const t = targetParts[i];
      if (t !== undefined) pending.push(t);
    }
  }
  return current;
}

/** True when hostPath is the root or lies below it (lexically; no symlinks are consulted). */
export function isWithin(root: string, hostPath: string): boolean {
  const rel = path.relative(path.resolve(root), path.resolve(hostPath));
  return rel === '' || (rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel));
}

/** The inverse of resolveInRoot: host path → '/a/b' form as seen from inside the root. */
export function toRootPath(root: string, hostPath: string): string {
  if (!isWithin(root, hostPath)) {
    throw new BuildError('ROOTFS', `path ${hostPath} is outside the build root ${root}`);
  }
  const rel = path.relative(path.resolve(root), path.resolve(hostPath));
  return rel === '' ? '/' : `/${rel}`;
}
