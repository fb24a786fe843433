// One lstat per path over a subtree of the build root.
// Never follows symlinks, never enters an ignored path, never reads a file. Depth-first (a stack), so the
// pending list stays around one directory listing per level instead of the whole tree's breadth.
import type { BigIntStats } from 'node:fs';
import { lstatSync, readdirSync } from 'node:fs';
import { BuildError } from '../errors.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';

export interface TreeWalkOptions {
  /** Absolute host path of the build root. */
  readonly root: string;
  readonly ignore: IgnoreList;
}

/**
 * Called once per path with its lstat. The returned tag is handed to the path's children (directories only
 * are listed); it lets a visitor carry a subtree property (e.g. "inside a replaced directory") downwards.
 */
export type TreeVisitor<T> = (rootPath: string, st: BigIntStats, parentTag: T) => T;

interface Pending<T> {
  readonly path: string;
  readonly tag: T;
}

/** '/a' + 'b' → '/a/b', root-aware. */
export function joinRootPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** The host path of a root path, without resolving symlinks: the walk only builds paths from listings. */
export function hostPathOf(root: string, rootPath: string): string {
  if (rootPath === '/') return root;
  return root === '/' ? rootPath : root + rootPath;
}

function isVanished(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  // ENOTDIR: a directory replaced by a file between the listing and the call.
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Paths visited between two turns of the event loop (so uploads and compression in flight keep moving). */
const yieldEvery = 4096;

/**
 * Visits `start` (a root path) and everything below it. Ignored paths are neither visited nor entered ('/'
 * itself is always visited); sockets are skipped (never image content, as Docker); paths that vanish
 * mid-walk are skipped.
 * Synchronous lstat/readdir: on a tree in the page cache each call is a few microseconds, and a trip through
 * libuv's thread pool per call made the walk 3–4× slower than `find` (bench/snapshot.ts).
 */
export async function walkTree<T>(opts: TreeWalkOptions, start: string, startTag: T,
  visit: TreeVisitor<T>): Promise<void> {
  const stack: Pending<T>[] = [];
  if (start === '/' || !opts.ignore.ignores(start)) stack.push({ path: start, tag: startTag });
  let sinceYield = 0;
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (++sinceYield >= yieldEvery) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const host = hostPathOf(opts.root, item.path);
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(host, { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      if (isVanished(err)) continue;
      throw walkError(item.path, err);
    }
    if (st === undefined || st.isSocket()) continue;
    const tag = visit(item.path, st, item.tag);
    if (!st.isDirectory()) continue;
    let names: string[];
    try {
      names = readdirSync(host);
    } catch (err) {
      if (isVanished(err)) continue;
      throw walkError(item.path, err);
    }
    for (const name of names) {
      const child = joinRootPath(item.path, name);
      if (!opts.ignore.ignores(child)) stack.push({ path: child, tag });
    }
  }
}

function walkError(rootPath: string, err: unknown): BuildError {
  if (err instanceof BuildError) return err;
  return new BuildError('BUILD', `snapshotting ${rootPath}: ${(err as Error).message}`, { cause: err });
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first failure. */
export async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < Math.min(Math.max(1, limit), items.length); i++) lanes.push(lane());
  await Promise.all(lanes);
}
