// One lstat per path over a subtree of the build root, with a bounded number of filesystem calls in flight.
// Never follows symlinks, never enters an ignored path, never reads a file. Depth-first (a stack), so the
// pending list stays around one directory listing per level instead of the whole tree's breadth.
import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs';
import { BuildError } from '../errors.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';

export interface TreeWalkOptions {
  /** Absolute host path of the build root. */
  readonly root: string;
  readonly ignore: IgnoreList;
  /** Filesystem calls in flight at once. */
  readonly concurrency?: number;
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

const defaultConcurrency = 64;

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

/**
 * Visits `start` (a root path) and everything below it. Ignored paths are neither visited nor entered ('/'
 * itself is always visited); sockets are skipped (never image content, as Docker); paths that vanish
 * mid-walk are skipped.
 */
export async function walkTree<T>(opts: TreeWalkOptions, start: string, startTag: T,
  visit: TreeVisitor<T>): Promise<void> {
  const limit = Math.max(1, opts.concurrency ?? defaultConcurrency);
  const stack: Pending<T>[] = [];
  if (start === '/' || !opts.ignore.ignores(start)) stack.push({ path: start, tag: startTag });

  // Callback-style fs calls: one promise per path costs about as much as the lstat itself (measured: the
  // promise API walks 100k files at half the speed of the callback API).
  const step = (item: Pending<T>, done: (err?: unknown) => void): void => {
    const host = hostPathOf(opts.root, item.path);
    lstat(host, { bigint: true }, (statErr, st) => {
      if (statErr !== null) {
        done(isVanished(statErr) ? undefined : walkError(item.path, statErr));
        return;
      }
      if (st.isSocket()) {
        done();
        return;
      }
      let tag: T;
      try {
        tag = visit(item.path, st, item.tag);
      } catch (err) {
        done(err);
        return;
      }
      if (!st.isDirectory()) {
        done();
        return;
      }
      readdir(host, (listErr, names) => {
        if (listErr !== null) {
          done(isVanished(listErr) ? undefined : walkError(item.path, listErr));
          return;
        }
        for (const name of names) {
          const child = joinRootPath(item.path, name);
          if (!opts.ignore.ignores(child)) stack.push({ path: child, tag });
        }
        done();
      });
    });
  };

  await new Promise<void>((resolve, reject) => {
    let active = 0;
    let failed = false;
    const finish = (err?: unknown): void => {
      active--;
      if (failed) return;
      if (err !== undefined) {
        failed = true;
        reject(err);
        return;
      }
      pump();
    };
    const pump = (): void => {
      while (active < limit && stack.length > 0) {
        const item = stack.pop();
        if (item === undefined) break;
        active++;
        step(item, finish);
      }
      if (active === 0 && stack.length === 0) resolve();
    };
    pump();
  });
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
