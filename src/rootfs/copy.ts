// Safe primitives for COPY/ADD: put one file, symlink or directory chain into the build root.
// Destinations are resolved with resolveInRoot, so a symlink already in the root can never
// redirect a write outside it. Missing parent directories are created (0755, owned by the
// copy's uid:gid, as kaniko does) and reported back in '/a/b' form.
import { closeSync, constants as fsc, fchmodSync, fchownSync, futimesSync, openSync, readSync, writeSync } from 'node:fs';
import { chmod, lchown, lutimes, mkdir, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { ensureDirectories, lstatOrUndefined, removeTree, setNodeOwner } from './fs-nodes.ts';
import { diskMode, type OwnershipTable } from '../ownership/table.ts';
import { resolveInRoot, toRootPath } from './resolve.ts';

export interface Ownership {
  readonly uid: number;
  readonly gid: number;
}

/** Non-root mode: owners and modes are recorded in this table instead of set on disk. */
export interface InTable {
  readonly owners?: OwnershipTable | undefined;
}

export interface CopyFileOptions extends Ownership, InTable {
  /** Permission bits for the new file; default: the source file's. */
  readonly mode?: number;
  /** Copy the source's atime/mtime (otherwise the file gets the time of writing). */
  readonly preserveTimes: boolean;
}

export interface MkdirOptions extends Ownership, InTable {
  readonly mode: number;
}

/** Resolves the destination itself (not through a final symlink) and prepares its parent. */
async function prepareDestination(root: string, destRootPath: string, owner: Ownership & InTable, created: string[]): Promise<string> {
  const host = await resolveInRoot(root, destRootPath, { followFinal: false });
  if (host === path.resolve(root)) {
    throw new BuildError('ROOTFS', `cannot replace the build root itself with ${JSON.stringify(destRootPath)}`);
  }
  await ensureDirectories(root, path.dirname(host), { uid: owner.uid, gid: owner.gid, mode: 0o755 }, `copy to ${destRootPath}`,
    (dir) => { created.push(toRootPath(root, dir)); }, owner.owners);
  const existing = await lstatOrUndefined(host);
  if (existing?.isDirectory() === true) {
    throw new BuildError('ROOTFS', `cannot copy to ${destRootPath}: ${toRootPath(root, host)} is a directory`);
  }
  if (existing !== undefined) await removeTree(host, () => false);
  return host;
}

const copyBuffer = Buffer.allocUnsafeSlow(1024 * 1024);
/** The event loop gets a turn after this many bytes (an upload or compression may be waiting on it). */
const copySlice = 16 * 1024 * 1024;

/**
 * Copies one open file into another with synchronous 1 MiB reads and writes: a trip through libuv's thread pool per
 * 64 KiB chunk made a 1 GiB COPY take 6 s on tmpfs.
 */
async function copyContents(src: number, out: number): Promise<void> {
  for (let sinceYield = 0; ;) {
    const n = readSync(src, copyBuffer, 0, copyBuffer.length, null);
    if (n === 0) return;
    for (let at = 0; at < n;) at += writeSync(out, copyBuffer, at, n - at);
    sinceYield += n;
    if (sinceYield >= copySlice) { sinceYield = 0; await new Promise<void>((resolve) => setImmediate(resolve)); }
  }
}

/**
 * Copies srcHostPath into the root at destRootPath (replacing an existing non-directory, never
 * writing through a symlink there). Returns the parent directories it created.
 */
export async function copyFileInto(root: string, srcHostPath: string, destRootPath: string, opts: CopyFileOptions): Promise<string[]> {
  const srcStat = await stat(srcHostPath).catch((err: unknown) => {
    throw new BuildError('ROOTFS', `cannot copy ${srcHostPath}: ${(err as Error).message}`, { cause: err });
  });
  if (!srcStat.isFile()) {
    throw new BuildError('ROOTFS', `cannot copy ${srcHostPath}: not a regular file`);
  }
  const created: string[] = [];
  const host = await prepareDestination(root, destRootPath, opts, created);
  // O_EXCL|O_NOFOLLOW: if a node reappeared at host, fail rather than follow it.
  const out = openSync(host, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    const src = openSync(srcHostPath, fsc.O_RDONLY);
    try {
      await copyContents(src, out);
    } finally {
      closeSync(src);
    }
    const mode = opts.mode ?? srcStat.mode & 0o7777;
    if (opts.owners !== undefined) {
      opts.owners.set(toRootPath(root, host), { uid: opts.uid, gid: opts.gid, mode: mode & 0o7777 });
      fchmodSync(out, diskMode(mode, false));
    } else {
      fchownSync(out, opts.uid, opts.gid);
      // chmod after chown: chown clears setuid/setgid.
      fchmodSync(out, mode);
    }
    if (opts.preserveTimes) futimesSync(out, srcStat.atime, srcStat.mtime);
  } finally {
    closeSync(out);
  }
  return created;
}

/** Creates a symlink at destRootPath (replacing an existing non-directory); linkTarget is stored verbatim. */
export async function copySymlinkInto(root: string, linkTarget: string, destRootPath: string, opts: Ownership & InTable): Promise<string[]> {
  const created: string[] = [];
  const host = await prepareDestination(root, destRootPath, opts, created);
  await symlink(linkTarget, host);
  if (opts.owners !== undefined) opts.owners.set(toRootPath(root, host), { uid: opts.uid, gid: opts.gid, mode: 0o777 });
  else await lchown(host, opts.uid, opts.gid);
  return created;
}

/**
 * mkdir -p inside the root: existing symlinks along the way are followed (inside the root),
 * missing directories are created with uid:gid and mode. Returns the created ones, '/a/b' form,
 * outermost first. An existing non-directory on the way is an error.
 */
export async function mkdirAllInRoot(root: string, rootPath: string, opts: MkdirOptions): Promise<string[]> {
  const created: string[] = [];
  const parts = rootPath.split('/').filter((p) => p !== '' && p !== '.');
  let prefix = '';
  for (const part of parts) {
    prefix = `${prefix}/${part}`;
    const host = await resolveInRoot(root, prefix);
    const st = await lstatOrUndefined(host);
    if (st?.isDirectory() === true) continue;
    if (st !== undefined) {
      throw new BuildError('ROOTFS', `cannot create directory ${rootPath}: ${toRootPath(root, host)} exists and is not a directory`);
    }
    // The resolved parent exists as a directory (previous iteration), unless the link led elsewhere.
    await ensureDirectories(root, path.dirname(host), { uid: opts.uid, gid: opts.gid, mode: opts.mode & 0o7777 }, `mkdir ${rootPath}`,
      (dir) => { created.push(toRootPath(root, dir)); }, opts.owners);
    await mkdir(host, { mode: 0o700 });
    setNodeOwner(root, host, opts.uid, opts.gid, opts.mode, true, opts.owners);
    created.push(toRootPath(root, host));
  }
  return created;
}

/** Sets a node's times without following a symlink (for callers that copy trees). */
export async function setTimesInRoot(root: string, destRootPath: string, atime: Date, mtime: Date): Promise<void> {
  const host = await resolveInRoot(root, destRootPath, { followFinal: false });
  await lutimes(host, atime, mtime);
}
