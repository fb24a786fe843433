// Creating and removing filesystem nodes at host paths that resolveInRoot already placed
// inside the root. None of these follows a symlink at the final component.
// Synchronous: each call is a few microseconds of syscall, a trip through libuv's thread pool ~10× that, and layer
// extraction makes several per tar entry.
import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { diskMode, type OwnershipTable } from '../ownership/table.ts';

export async function lstatOrUndefined(hostPath: string): Promise<Stats | undefined> {
  return lstatOrUndefinedSync(hostPath);
}

export function lstatOrUndefinedSync(hostPath: string): Stats | undefined {
  try {
    return lstatSync(hostPath, { throwIfNoEntry: false });
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
  return removeTreeSync(hostPath, isProtected);
}

export function removeTreeSync(hostPath: string, isProtected: (hostPath: string) => boolean): boolean {
  const st = lstatOrUndefinedSync(hostPath);
  if (st === undefined) return true;
  if (isProtected(hostPath)) return false;
  if (!st.isDirectory()) {
    unlinkSync(hostPath);
    return true;
  }
  let allGone = true;
  for (const name of readdirSync(hostPath)) {
    if (!removeTreeSync(path.join(hostPath, name), isProtected)) allGone = false;
  }
  if (allGone) rmdirSync(hostPath);
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
  owners?: OwnershipTable,
  tableRoot: string = root,
): Promise<void> {
  ensureDirectoriesSync(root, hostDir, owner, what, onCreated, owners, tableRoot);
}

export function ensureDirectoriesSync(
  root: string,
  hostDir: string,
  owner: DirOwnership,
  what: string,
  onCreated: (hostPath: string) => void,
  owners?: OwnershipTable,
  /** The build root the table's paths are relative to (when `root` is a directory inside it). */
  tableRoot: string = root,
): void {
  const hostRoot = path.resolve(root);
  const fast = lstatOrUndefinedSync(hostDir);
  if (fast?.isDirectory() === true) return;
  const rel = path.relative(hostRoot, hostDir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new BuildError('ROOTFS', `${what}: directory ${hostDir} is outside the build root`);
  }
  let current = hostRoot;
  for (const part of rel.split(path.sep)) {
    if (part === '') continue;
    current = path.join(current, part);
    const st = lstatOrUndefinedSync(current);
    if (st?.isDirectory() === true) continue;
    if (st !== undefined) {
      throw new BuildError('ROOTFS', `${what}: ${current} exists and is not a directory`);
    }
    mkdirSync(current, { mode: 0o700 });
    setNodeOwner(tableRoot, current, owner.uid, owner.gid, owner.mode, true, owners);
    onCreated(current);
  }
}

/** The '/a/b' root path of a host path already inside hostRoot (no symlinks resolved). */
function rootPathOf(hostRoot: string, hostPath: string): string {
  const rel = path.relative(hostRoot, hostPath);
  return rel === '' ? '/' : `/${rel.split(path.sep).join('/')}`;
}

/**
 * Owner and mode of a node at hostPath: lchown + chmod as root; in non-root mode (owners given) recorded in the table,
 * the disk getting diskMode (what the build itself needs to go on writing and reading it).
 */
export function setNodeOwner(root: string, hostPath: string, uid: number, gid: number, mode: number, isDirectory: boolean,
  owners: OwnershipTable | undefined): void {
  if (owners !== undefined) {
    owners.set(rootPathOf(path.resolve(root), hostPath), { uid, gid, mode: mode & 0o7777 });
    chmodSync(hostPath, diskMode(mode, isDirectory));
    return;
  }
  lchownSync(hostPath, uid, gid);
  // chmod after chown (chown clears setgid) and because mkdir's mode is filtered by the umask.
  chmodSync(hostPath, mode & 0o7777);
}
