// Creating and removing filesystem nodes at host paths that resolveInRoot already placed
// inside the root. None of these follows a symlink at the final component.
import { chmod, lchown, lstat, mkdir, readdir, rmdir, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.ts';

export async function lstatOrUndefined(hostPath: string): Promise<Stats | undefined> {
  try {
    return await lstat(hostPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Removes hostPath and everything below it, except nodes for which isProtected is true (ignored
 * paths such as mounts): a directory holding a protected node is kept. Never follows symlinks.
 * Returns true when nothing is left at hostPath.
 */
export async function removeTree(hostPath: string, isProtected: (hostPath: string) => boolean): Promise<boolean> {
  const st = await lstatOrUndefined(hostPath);
  if (st === undefined) return true;
  if (isProtected(hostPath)) return false;
  if (!st.isDirectory()) {
    await unlink(hostPath);
    return true;
  }
  let allGone = true;
  for (const name of await readdir(hostPath)) {
    if (!(await removeTree(path.join(hostPath, name), isProtected))) allGone = false;
  }
  if (allGone) await rmdir(hostPath);
  return allGone;
}

export interface DirOwnership {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/**
 * Creates the missing directories between root and hostDir (inclusive), one component at a
 * time with lstat so no symlink is ever followed; onCreated receives each created host path.
 * An existing non-directory (or symlink) on the way is an error naming `what`.
 */
export async function ensureDirectories(
  root: string,
  hostDir: string,
  owner: DirOwnership,
  what: string,
  onCreated: (hostPath: string) => void,
): Promise<void> {
  const hostRoot = path.resolve(root);
  const fast = await lstatOrUndefined(hostDir);
  if (fast?.isDirectory() === true) return;
  const rel = path.relative(hostRoot, hostDir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new BuildError('ROOTFS', `${what}: directory ${hostDir} is outside the build root`);
  }
  let current = hostRoot;
  for (const part of rel.split(path.sep)) {
    if (part === '') continue;
    current = path.join(current, part);
    const st = await lstatOrUndefined(current);
    if (st?.isDirectory() === true) continue;
    if (st !== undefined) {
      throw new BuildError('ROOTFS', `${what}: ${current} exists and is not a directory`);
    }
    await mkdir(current, { mode: 0o700 });
    await lchown(current, owner.uid, owner.gid);
    // chmod after chown (chown clears setgid) and because mkdir's mode is filtered by the umask.
    await chmod(current, owner.mode);
    onCreated(current);
  }
}
