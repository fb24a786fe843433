// Turns "what changed in the build root since the last snapshot" into LayerChanges with one lstat walk and no
// file reads. kaniko hashes every file on every snapshot; here a change is any difference in the inode's
// metadata (which mode compares what: see README), and the one case metadata cannot see — a rewrite within
// the same filesystem clock tick as the baseline's stat — is closed by waiting out that tick after recording
// (git's "racy clean" problem, solved by time instead of by hashing).
import type { BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { BuildError } from '../errors.ts';
import type { Log } from '../log.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';
import type { LayerChanges } from './layer-tar.ts';
import { cleanRootPath } from './layer-tar.ts';
import { PathStates } from './path-states.ts';
import { forEachBounded, hostPathOf, walkTree } from './tree-walk.ts';

export type SnapshotMode = 'full' | 'redo' | 'time';

export interface SnapshotterOptions {
  readonly root: string;
  readonly ignore: IgnoreList;
  readonly mode: SnapshotMode;
  readonly log: Log;
  /** Filesystem calls in flight during a walk (default 64). */
  readonly concurrency?: number;
  /** Wall clock in ns since the epoch (CLOCK_REALTIME, the clock file times come from). Tests inject it. */
  readonly now?: () => bigint;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface Snapshotter {
  /** Records the state of the whole tree as the baseline (after the base image is unpacked). One stat walk, no reads. */
  init(): Promise<void>;
  /** Walks the tree and returns what changed since the baseline (added/changed, deleted, opaque), then makes the
   *  current tree the new baseline. Empty changes (all arrays empty) when nothing changed. */
  snapshotTree(): Promise<LayerChanges>;
  /** For COPY/WORKDIR/ADD, which know the paths they wrote: updates the baseline for those paths (and their parents)
   *  with no walk. Callers list every path they wrote; a listed directory's contents are not walked. */
  recordPaths(paths: readonly string[]): Promise<void>;
}

/**
 * How long after the newest recorded timestamp a later write is guaranteed a different one: file times come
 * from the kernel's coarse clock, which lags the real clock by up to one jiffy (10 ms at HZ=100, the slowest
 * kernel tick), plus Date.now()'s millisecond truncation.
 */
const tickMarginNs = 20_000_000n;
const secondNs = 1_000_000_000n;
/** Timestamps further ahead of the clock than this were set explicitly (utimes), not by a write. */
const futureSlackNs = secondNs;
const maxSettleMs = 2_500;

type ChangeTest = (states: PathStates, slot: number, st: BigIntStats) => boolean;

/** What each mode treats as a change. Type bits are part of `mode`; `time` checks them separately because a
 *  path that changed type must be re-added whatever the mode. */
const changeTests: Readonly<Record<SnapshotMode, ChangeTest>> = {
  // A directory's ctime alone is not a change: RUN's helper mounts over /etc/resolv.conf (creating and removing a
  // stub when the image has none) and restores /etc's mtime, but the kernel bumps ctime. Changes inside a
  // directory show up through its entries and its mtime.
  full: (s, slot, st) => !s.sameMtime(slot, st) || (!st.isDirectory() && !s.sameCtime(slot, st)) || !s.sameSize(slot, st)
    || !s.sameInode(slot, st) || !s.sameMode(slot, st) || !s.sameOwner(slot, st),
  redo: (s, slot, st) => !s.sameMtime(slot, st) || !s.sameSize(slot, st) || !s.sameMode(slot, st)
    || !s.sameOwner(slot, st),
  time: (s, slot, st) => !s.sameMtime(slot, st) || !s.sameType(slot, st),
};

/** The newest write time seen by one recording pass, split by timestamp granularity. */
class LatestWrite {
  fine = -1n;
  wholeSecond = -1n;
  readonly #limit: bigint;
  readonly #full: boolean;
  constructor(startNs: bigint, mode: SnapshotMode) {
    this.#limit = startNs + futureSlackNs;
    this.#full = mode === 'full';
  }

  note(st: BigIntStats): void {
    // Full mode compares ctime too, so a write that only moves ctime (chmod, xattr, rewrite with mtime
    // restored) must also land in a later tick.
    const ts = this.#full && st.ctimeNs > st.mtimeNs ? st.ctimeNs : st.mtimeNs;
    if (ts > this.#limit) return;
    if (ts % secondNs === 0n) {
      // A filesystem with whole-second times (or a time set to a whole second): a write in the same second
      // would keep the same value.
      if (ts > this.wholeSecond) this.wholeSecond = ts;
    } else if (ts > this.fine) {
      this.fine = ts;
    }
  }

  /** The earliest clock value at which any new write gets a timestamp different from every recorded one. */
  safeAfter(): bigint {
    const a = this.fine < 0n ? -1n : this.fine + tickMarginNs;
    const b = this.wholeSecond < 0n ? -1n : this.wholeSecond + secondNs + tickMarginNs;
    return a > b ? a : b;
  }
}

export function createSnapshotter(opts: SnapshotterOptions): Snapshotter {
  const root = resolve(opts.root);
  const states = new PathStates();
  const changed = changeTests[opts.mode];
  const now = opts.now ?? ((): bigint => BigInt(Date.now()) * 1_000_000n);
  const sleep = opts.sleep ?? ((ms: number): Promise<void> => sleepMs(ms).then(() => undefined));
  const concurrency = opts.concurrency ?? 64;
  const walkOpts = { root, ignore: opts.ignore };
  let gen = 0;

  /** Returns only once a write made from now on cannot carry a timestamp equal to a recorded one. */
  const settle = async (latest: LatestWrite): Promise<void> => {
    const waitNs = latest.safeAfter() - now();
    if (waitNs <= 0n) return;
    const ms = Math.min(maxSettleMs, Number(waitNs / 1_000_000n) + 1);
    opts.log.trace({ ms }, 'Waiting out the filesystem clock tick of the last writes');
    await sleep(ms);
  };

  return {
    async init(): Promise<void> {
      const started = Date.now();
      states.clear();
      gen++;
      const latest = new LatestWrite(now(), opts.mode);
      await walkTree(walkOpts, '/', false, (p, st) => {
        states.record(p, st, gen);
        latest.note(st);
        return false;
      });
      await settle(latest);
      opts.log.debug({ paths: states.size, ms: Date.now() - started, mode: opts.mode }, 'Recorded the filesystem baseline');
    },

    async snapshotTree(): Promise<LayerChanges> {
      const started = Date.now();
      gen++;
      const latest = new LatestWrite(now(), opts.mode);
      const added: string[] = [];
      const opaque: string[] = [];
      // Directories inside a replaced directory (and the replaced ones): their old children get no whiteouts.
      const replacedDirs = new Set<string>();
      // The tag is "inside a replaced directory": everything there is new content of an opaque directory.
      await walkTree(walkOpts, '/', false, (p, st, inReplaced) => {
        latest.note(st);
        const slot = states.slotOf(p);
        let replacedHere = false;
        if (p === '/') {
          // The root is never a layer entry.
        } else if (inReplaced || slot === undefined) {
          added.push(p);
        } else if (st.isDirectory() && states.isDirectory(slot) && states.replaced(slot, st)) {
          replacedHere = true;
          added.push(p);
          opaque.push(p);
        } else if (changed(states, slot, st)) {
          added.push(p);
        }
        states.record(p, st, gen);
        const tag = inReplaced || replacedHere;
        if (tag && st.isDirectory()) replacedDirs.add(p);
        return tag;
      });
      const deleted = collectDeletions(states, gen, replacedDirs);
      await settle(latest);
      opts.log.debug({ added: added.length, deleted: deleted.length, opaque: opaque.length, paths: states.size,
        ms: Date.now() - started, mode: opts.mode }, 'Snapshotted the filesystem');
      return { added, deleted, opaque };
    },

    async recordPaths(paths: readonly string[]): Promise<void> {
      const wanted = new Set<string>();
      for (const raw of paths) {
        for (let p = cleanRootPath(raw); !wanted.has(p); p = posix.dirname(p)) {
          if (p === '/' || !opts.ignore.ignores(p)) wanted.add(p);
          if (p === '/') break;
        }
      }
      const latest = new LatestWrite(now(), opts.mode);
      await forEachBounded([...wanted], concurrency, async (p) => {
        let st: BigIntStats;
        try {
          st = await lstat(hostPathOf(root, p), { bigint: true });
        } catch (err) {
          // Missing: keep the old record, so the next walk reports the deletion if it was in the baseline.
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'ENOTDIR') return;
          throw new BuildError('BUILD', `recording ${p} for the snapshot: ${(err as Error).message}`, { cause: err });
        }
        if (st.isSocket()) return;
        states.record(p, st, gen);
        latest.note(st);
      });
      await settle(latest);
    },
  };
}

/**
 * Baseline paths the walk did not see, reduced to what needs a whiteout: only the topmost deleted path (a
 * deleted directory's children go with it), and nothing whose parent is now a non-directory (replacing a
 * directory with a file removes its children) or a replaced directory (its opaque marker hides them).
 * The unseen records are dropped from the baseline.
 */
function collectDeletions(states: PathStates, gen: number, replacedDirs: ReadonlySet<string>): string[] {
  const gone: string[] = [];
  for (const [p, slot] of states.entries()) if (!states.seenIn(slot, gen)) gone.push(p);
  const deleted: string[] = [];
  for (const p of gone) {
    const parent = posix.dirname(p);
    const parentSlot = states.slotOf(parent);
    const parentLive = parentSlot !== undefined && states.seenIn(parentSlot, gen);
    if (parentLive && (!states.isDirectory(parentSlot) || replacedDirs.has(parent))) continue;
    if (parentSlot !== undefined && !parentLive) continue; // the parent is itself deleted and reported
    deleted.push(p);
  }
  for (const p of gone) states.delete(p);
  return deleted;
}
