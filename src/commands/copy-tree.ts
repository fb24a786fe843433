// Writing one resolved COPY source into the build root with BuildKit's (fsutil copy) metadata rules:
// a directory's CONTENTS are copied; nested directories take the source directory's mode, owner and
// times (even when they already exist), the top-level destination directory is left alone; symlinks
// inside a tree stay symlinks; files keep mode and times. Every write goes through src/rootfs
// primitives or a path resolveInRoot placed inside the root.
import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, lutimes, mkdir, readdir, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import type { Log } from '../log.ts';
import { diskMode, type OwnerRecord, type OwnershipTable } from '../ownership/table.ts';
import { copyFileInto, copySymlinkInto, mkdirAllInRoot } from '../rootfs/copy.ts';
import type { Ownership } from '../rootfs/copy.ts';
import { resolveInRoot, toRootPath } from '../rootfs/resolve.ts';

/** A parsed --chmod: octal replaces the permission bits, symbolic edits them like chmod(1). */
export interface ModeSpec {
  readonly text: string;
  apply(mode: number, isDir: boolean): number;
}

const whoBits = { u: 0o4700, g: 0o2070, o: 0o1007 } as const;

/** --chmod=0755 | 644 | u+x,go-w | a=r | +X. Symbolic without who means 'a' (no umask, as BuildKit). */
export function parseChmod(text: string): ModeSpec {
  if (/^[0-7]+$/.test(text)) {
    const value = Number.parseInt(text, 8);
    if (value > 0o7777) throw new BuildError('BUILD', `invalid --chmod value ${JSON.stringify(text)}: octal mode above 7777`);
    return { text, apply: () => value };
  }
  const clause = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/;
  const clauses = text.split(',').map((c) => {
    const m = clause.exec(c);
    if (m === null) {
      throw new BuildError('BUILD', `invalid --chmod value ${JSON.stringify(text)}: expected an octal mode or symbolic clauses like u+x,go-w`);
    }
    return { who: m[1] ?? '', actions: [...(m[2] ?? '').matchAll(/([-+=])([ugo]|[rwxXst]*)/g)] };
  });
  return {
    text,
    apply(start, isDir) {
      let mode = start & 0o7777;
      for (const { who, actions } of clauses) {
        const targets = (who === '' || who.includes('a') ? 'ugo' : who).split('') as Array<keyof typeof whoBits>;
        let mask = 0;
        for (const t of targets) mask |= whoBits[t];
        for (const action of actions) {
          const op = action[1] ?? '+';
          const perms = action[2] ?? '';
          let bits = 0;
          if (perms === 'u' || perms === 'g' || perms === 'o') {
            // Copy another class's rwx: u=g etc.
            const shift = { u: 6, g: 3, o: 0 }[perms];
            const rwx = (mode >> shift) & 0o7;
            bits = (rwx << 6) | (rwx << 3) | rwx;
          } else {
            for (const p of perms) {
              if (p === 'r') bits |= 0o444;
              else if (p === 'w') bits |= 0o222;
              else if (p === 'x') bits |= 0o111;
              else if (p === 'X' && (isDir || (mode & 0o111) !== 0)) bits |= 0o111;
              else if (p === 's') bits |= 0o6000;
              else if (p === 't') bits |= 0o1000;
            }
          }
          bits &= mask;
          if (op === '+') mode |= bits;
          else if (op === '-') mode &= ~bits;
          else mode = (mode & ~mask) | bits;
        }
      }
      return mode & 0o7777;
    },
  };
}

export interface EntryFilter {
  /** True when the source node at hostPath must not be copied (.dockerignore, --exclude). */
  excluded(hostPath: string, isDir: boolean): boolean;
  /** True when an excluded directory may be skipped whole: nothing below it can be re-included. */
  canSkipDir(hostPath: string): boolean;
}

export interface TreeCopy {
  readonly root: string;
  /** Owner of a copied node: the --chown owner, 0:0, or the source's own (COPY --from). */
  ownerOf(st: Stats, srcHost: string): Ownership;
  /** Non-root mode: the destination root's ownership table (owners and modes are recorded there, not chowned). */
  readonly owners?: OwnershipTable | undefined;
  /** Non-root mode, COPY --from: the source root's record of a source node (its owner and mode), when it has one. */
  readonly sourceRecord?: ((srcHost: string) => OwnerRecord | undefined) | undefined;
  /** Owner of missing destination parents created on the way (0755). */
  readonly parentOwner: Ownership;
  readonly mode: ModeSpec | undefined;
  readonly filter: EntryFilter;
  /** Root paths created or written, in order ('/a', '/a/b'). */
  readonly changed: Set<string>;
  readonly log: Log;
  readonly signal: AbortSignal;
}

function modeOf(t: TreeCopy, st: Stats, isDir: boolean, srcHost: string): number {
  const own = t.sourceRecord?.(srcHost)?.mode ?? st.mode & 0o7777;
  return t.mode === undefined ? own : t.mode.apply(own, isDir);
}

function note(t: TreeCopy, rootPaths: readonly string[]): void {
  for (const p of rootPaths) t.changed.add(p);
}

/** mkdir -p of destination parents (0755, parentOwner), recording what was created. */
export async function ensureDestDir(t: TreeCopy, rootPath: string): Promise<void> {
  note(t, await mkdirAllInRoot(t.root, rootPath, { ...t.parentOwner, mode: 0o755, owners: t.owners }));
}

/** Copies one regular file to destRootPath (an existing non-directory there is replaced, never followed). */
export async function copyFileNode(t: TreeCopy, srcHost: string, st: Stats, destRootPath: string): Promise<void> {
  const owner = t.ownerOf(st, srcHost);
  note(t, await copyFileInto(t.root, srcHost, destRootPath, { uid: owner.uid, gid: owner.gid, mode: modeOf(t, st, false, srcHost), preserveTimes: true, owners: t.owners }));
  const host = await resolveInRoot(t.root, destRootPath, { followFinal: false });
  t.changed.add(toRootPath(t.root, host));
}

/**
 * A directory at destRootPath for a nested source dir: created if missing. Anything else there, a symlink
 * (even to a directory) included, is fsutil's copyDirectoryOnly error (it lstats the target): BuildKit never
 * replaces a symlink with a directory within a COPY, nor writes through it.
 */
async function openNestedDir(t: TreeCopy, destRootPath: string): Promise<string> {
  const host = await resolveInRoot(t.root, destRootPath, { followFinal: false });
  const resolved = toRootPath(t.root, host);
  let st: Stats | undefined;
  try {
    st = await lstat(host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (st === undefined) {
    // Parents exist: the walk created them. 0700 until the metadata pass after the children.
    await mkdir(host, { mode: 0o700 });
  } else if (!st.isDirectory()) {
    throw new BuildError('BUILD', `cannot copy to non-directory: ${resolved}`);
  }
  return resolved;
}

/** fsutil's copyFileInfo for a directory: owner, mode, then times (last, after its children were written). */
async function finishDir(t: TreeCopy, resolvedRootPath: string, st: Stats, srcHost: string): Promise<void> {
  const host = await resolveInRoot(t.root, resolvedRootPath, { followFinal: false });
  const owner = t.ownerOf(st, srcHost);
  const mode = modeOf(t, st, true, srcHost);
  if (t.owners !== undefined) {
    t.owners.set(resolvedRootPath, { uid: owner.uid, gid: owner.gid, mode });
    await chmod(host, diskMode(mode, true));
  } else {
    await lchown(host, owner.uid, owner.gid);
    await chmod(host, mode);
  }
  await lutimes(host, st.atime, st.mtime);
  t.changed.add(resolvedRootPath);
}

/** Copies the CONTENTS of srcDir into the existing directory destDir (a resolved root path). */
export async function copyDirContents(t: TreeCopy, srcDir: string, destDir: string): Promise<void> {
  await walkInto(t, srcDir, async () => destDir);
}

/**
 * ensureDir returns the destination directory, creating it on first call: an excluded directory is
 * created only when an exception re-includes something inside it.
 */
async function walkInto(t: TreeCopy, srcDir: string, ensureDir: () => Promise<string>): Promise<void> {
  const names = (await readdir(srcDir)).sort();
  for (const name of names) {
    t.signal.throwIfAborted();
    const src = path.join(srcDir, name);
    const st = await lstat(src);
    const isDir = st.isDirectory();
    const excluded = t.filter.excluded(src, isDir);
    if (isDir) {
      if (excluded && t.filter.canSkipDir(src)) continue;
      let made: string | undefined;
      const ensureSelf = async (): Promise<string> => {
        made ??= await openNestedDir(t, posix.join(await ensureDir(), name));
        return made;
      };
      if (!excluded) await ensureSelf();
      await walkInto(t, src, ensureSelf);
      if (made !== undefined) await finishDir(t, made, st, src);
      continue;
    }
    if (excluded) continue;
    const dest = posix.join(await ensureDir(), name);
    if (st.isFile()) {
      await copyFileNode(t, src, st, dest);
    } else if (st.isSymbolicLink()) {
      const owner = t.ownerOf(st, src);
      note(t, await copySymlinkInto(t.root, await readlink(src), dest, { ...owner, owners: t.owners }));
      const host = await resolveInRoot(t.root, dest, { followFinal: false });
      await lutimes(host, st.atime, st.mtime);
      t.changed.add(toRootPath(t.root, host));
    } else {
      // Sockets, fifos and devices are not build inputs (BuildKit's context transfer drops them too).
      t.log.warn({ path: src }, 'COPY skips a special file');
    }
  }
}

/** One node copyDirContents would write, for cache keys: its path below the source directory and its lstat. */
export interface SourceNode {
  /** '/'-separated, relative to the walked directory. */
  readonly rel: string;
  readonly host: string;
  readonly stat: Stats;
}

/**
 * The nodes copyDirContents(srcDir) writes, in the order it writes them, with the same filter rules: an
 * excluded directory appears only when something below it is re-included (walkInto then creates it).
 */
export async function listDirContents(srcDir: string, filter: EntryFilter, signal: AbortSignal, rel = ''): Promise<SourceNode[]> {
  const out: SourceNode[] = [];
  for (const name of (await readdir(srcDir)).sort()) {
    signal.throwIfAborted();
    const src = path.join(srcDir, name);
    const st = await lstat(src);
    const relName = rel === '' ? name : `${rel}/${name}`;
    const isDir = st.isDirectory();
    const excluded = filter.excluded(src, isDir);
    if (isDir) {
      if (excluded && filter.canSkipDir(src)) continue;
      const below = await listDirContents(src, filter, signal, relName);
      if (!excluded || below.length > 0) out.push({ rel: relName, host: src, stat: st }, ...below);
      continue;
    }
    if (!excluded) out.push({ rel: relName, host: src, stat: st });
  }
  return out;
}
