// RUN --mount=type=cache and --mount=type=bind: the host directories (or files) the helper binds, prepared here.
// Cache mounts live under --cache-mount-dir and persist between builds; bind mounts show the build context, a stage
// or an image (through StepContext.resolveFrom, the resolver COPY --from uses), or a named build context directory
// (StepContext.namedContextOf). The helper's mounts vanish with its mount namespace, so nothing of them reaches a layer.
import { createHash, randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import { createReadStream } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { cleanGoPath } from '../context/dockerignore.ts';
import { BuildError } from '../errors.ts';
import { OwnershipTable } from '../ownership/table.ts';
import type { BindMount, CacheMount, MountSpec } from '../mounts/parse.ts';
import { resolveInRootSync } from '../rootfs/resolve.ts';
import { holdLock, type HeldLock } from '../sandbox/run-in-root.ts';
import type { StepContext } from './command.ts';
import { copyDirContents, copyFileNode, listDirContents, type EntryFilter, type TreeCopy } from './copy-tree.ts';

/** The context's .dockerignore (bind mounts of the context do not show ignored files, as in BuildKit). */
export interface RunMountOptions {
  readonly ignore?: { matches(relPath: string): boolean; canSkipDir?(relDir: string): boolean; readonly patterns?: readonly string[] };
}

export interface PreparedMounts {
  /** In mount order; target is the absolute path inside the build root (the caller resolves it). */
  readonly binds: { readonly source: string; readonly target: string; readonly readonly: boolean }[];
  /** Releases the cache locks and removes the scratch copies. */
  release(): Promise<void>;
}

/** Where a from=/source= points: the host node, and whether it is the build context (then .dockerignore applies). */
interface MountSource {
  readonly host: string;
  readonly stat: Stats;
  readonly context: boolean;
  readonly filter: EntryFilter | undefined;
}

const noFilter: EntryFilter = { excluded: () => false, canSkipDir: () => false };

function describeFrom(from: string | undefined): string {
  return from === undefined ? 'the build context' : `from=${from}`;
}

async function mountSource(step: StepContext, what: string, from: string | undefined, source: string, opts: RunMountOptions): Promise<MountSource> {
  // A named build context (--build-context) is a build context too: its own .dockerignore applies, owners are not keyed.
  const named = from === undefined ? undefined : await step.namedContextOf?.(from);
  const root = path.resolve(from === undefined ? step.contextDir : named?.root ?? await step.resolveFrom(from));
  const cleaned = cleanGoPath(`/${source}`);
  const host = resolveInRootSync(root, cleaned);
  const ignore = from === undefined ? opts.ignore : named?.ignore;
  const rel = (p: string): string => path.relative(root, p).split(path.sep).join('/');
  const hidden = ignore !== undefined && host !== root && ignore.matches(rel(host));
  let st: Stats | undefined;
  try {
    st = await stat(host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
  }
  if (st === undefined || hidden) throw new BuildError('BUILD', `RUN --mount=type=${what}: source ${cleaned} not found in ${describeFrom(from)}`);
  if (!st.isDirectory() && !st.isFile()) throw new BuildError('BUILD', `RUN --mount=type=${what}: source ${cleaned} in ${describeFrom(from)} is not a file or directory`);
  const filter: EntryFilter | undefined = ignore === undefined ? undefined : {
    excluded: (p) => ignore.matches(rel(p)),
    canSkipDir: (p) => ignore.canSkipDir?.(rel(p)) === true,
  };
  return { host, stat: st, context: from === undefined || named !== undefined, filter };
}

/** True when the filter leaves out anything below dir. */
async function anyExcluded(dir: string, filter: EntryFilter, signal: AbortSignal): Promise<boolean> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    signal.throwIfAborted();
    const p = join(dir, entry.name);
    if (filter.excluded(p, entry.isDirectory())) return true;
    if (entry.isDirectory() && await anyExcluded(p, filter, signal)) return true;
  }
  return false;
}

/** Copies a source node (its contents, owners, modes and times) to a new directory under `into`; returns the path to bind. */
async function copySource(step: StepContext, src: MountSource, into: string): Promise<string> {
  const t: TreeCopy = {
    root: into, ownerOf: (st) => ({ uid: st.uid, gid: st.gid }), parentOwner: { uid: 0, gid: 0 }, mode: undefined,
    // Non-root mode: nothing can be chowned; the copy's owners are kept in a table of its own (the RUN sees the
    // build user's files as root's).
    ...(step.owners !== undefined ? { owners: new OwnershipTable() } : {}),
    filter: src.filter ?? noFilter, changed: new Set<string>(), log: step.log, signal: step.signal,
  };
  if (src.stat.isFile()) {
    await copyFileNode(t, src.host, src.stat, '/file');
    return join(into, 'file');
  }
  await copyDirContents(t, src.host, '/');
  if (step.owners === undefined) await chown(into, src.stat.uid, src.stat.gid);
  await chmod(into, src.stat.mode & 0o7777);
  return into;
}

/** The directory name of a cache: a readable prefix of the id plus a hash of what makes it a different cache. */
export function cacheName(spec: CacheMount): string {
  const hash = createHash('sha256').update(JSON.stringify([spec.id, spec.from ?? null, spec.source, spec.mode, spec.uid, spec.gid])).digest('hex');
  const readable = spec.id.replace(/[^A-Za-z0-9._-]+/gu, '_').replace(/^[_.]+/u, '').slice(0, 48);
  return `${readable === '' ? 'cache' : readable}-${hash.slice(0, 16)}`;
}

/** Creates the cache instance directory `dir` when missing: empty or seeded from from=/source=, then mode and owner. */
async function ensureInstance(step: StepContext, spec: CacheMount, dir: string, opts: RunMountOptions): Promise<void> {
  try {
    if ((await lstat(dir)).isDirectory()) return;
    throw new BuildError('BUILD', `RUN --mount=type=cache: ${dir} is not a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = join(path.dirname(dir), `.new-${randomUUID()}`);
  await mkdir(tmp, { mode: 0o700 });
  try {
    if (spec.from !== undefined) {
      const src = await mountSource(step, 'cache', spec.from, spec.source, opts);
      if (!src.stat.isDirectory()) throw new BuildError('BUILD', `RUN --mount=type=cache: source ${spec.source} in from=${spec.from} is not a directory`);
      await copySource(step, src, tmp);
    }
    if (step.owners === undefined) await chown(tmp, spec.uid, spec.gid); // non-root mode: the build user's
    await chmod(tmp, spec.mode);
    // Another build may have created it meanwhile: theirs wins.
    await rename(tmp, dir).catch(async (err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The instance of a cache this RUN uses, under `base`: shared: instance 0, no lock; locked: instance 0 under an
 * exclusive flock (waiting for other builds); private: the first instance no one holds (a fresh one when all are held).
 */
async function cacheInstance(step: StepContext, spec: CacheMount, base: string, locks: HeldLock[], lockedHere: Set<string>): Promise<string> {
  const helper = step.runtime.helperPath;
  if (spec.sharing === 'shared') return join(base, '0');
  if (spec.sharing === 'locked') {
    // The same locked cache twice in one RUN: this RUN already holds it (waiting for ourselves would never end).
    if (lockedHere.has(base)) return join(base, '0');
    const file = join(base, '0.lock');
    let lock = await holdLock(helper, file, { wait: false, signal: step.signal });
    if (lock === undefined) {
      step.log.info(`Waiting for the cache mount ${spec.id}: another build holds it (sharing=locked)`);
      lock = await holdLock(helper, file, { wait: true, signal: step.signal });
    }
    if (lock === undefined) throw new BuildError('BUILD', `cannot lock the cache mount ${spec.id}`);
    locks.push(lock);
    lockedHere.add(base);
    return join(base, '0');
  }
  for (let i = 0; i < 1000; i++) {
    const lock = await holdLock(helper, join(base, `${i}.lock`), { wait: false, signal: step.signal });
    if (lock === undefined) continue;
    locks.push(lock);
    if (i > 0) step.log.debug({ id: spec.id, instance: i }, 'Cache mount in use: a private instance');
    return join(base, String(i));
  }
  throw new BuildError('BUILD', `RUN --mount=type=cache,sharing=private: every instance of ${spec.id} is in use`);
}

/** Cache and bind mounts of a RUN, ready for the helper (other mount types are left to their own code). */
export async function prepareRunMounts(step: StepContext, mounts: readonly MountSpec[], opts: RunMountOptions): Promise<PreparedMounts> {
  const binds: { source: string; target: string; readonly: boolean }[] = [];
  const locks: HeldLock[] = [];
  const scratch: string[] = [];
  const lockedHere = new Set<string>();
  const release = async (): Promise<void> => {
    await Promise.allSettled(locks.splice(0).map((l) => l.release()));
    await Promise.allSettled(scratch.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  };
  try {
    for (const m of mounts) {
      if (m.cache !== undefined) {
        const dir = step.runtime.cacheMountDir ?? join(step.runtime.scratchDir ?? tmpdir(), 'cache-mounts');
        const base = join(dir, cacheName(m.cache));
        await mkdir(base, { recursive: true, mode: 0o755 });
        const instance = await cacheInstance(step, m.cache, base, locks, lockedHere);
        await ensureInstance(step, m.cache, instance, opts);
        binds.push({ source: instance, target: m.target, readonly: m.cache.readonly });
      } else if (m.bind !== undefined) {
        binds.push({ ...(await prepareBind(step, m.bind, opts, scratch)), target: m.target });
      }
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { binds, release };
}

async function prepareBind(step: StepContext, spec: BindMount, opts: RunMountOptions, scratch: string[]): Promise<{ source: string; readonly: boolean }> {
  const src = await mountSource(step, 'bind', spec.from, spec.source, opts);
  // Read-only and nothing to hide: the source itself. Writable (writes are discarded) or .dockerignore'd files inside: a copy.
  const hides = src.filter !== undefined && src.stat.isDirectory() && await anyExcluded(src.host, src.filter, step.signal);
  if (!spec.readwrite && !hides) return { source: src.host, readonly: true };
  const dir = await mkdtemp(join(step.runtime.scratchDir ?? tmpdir(), 'bind-'));
  scratch.push(dir);
  return { source: await copySource(step, src, dir), readonly: !spec.readwrite };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Cache-key entries for the bind mounts (the spec itself is keyed by mountKey): a digest of the mounted content — per
 * node its path, type, mode, owner (not for the context, whose files' owners vary between checkouts, as for COPY) and
 * content or link target. A cache mount's contents are never part of the key (BuildKit).
 */
export async function bindMountInputs(step: StepContext, mounts: readonly MountSpec[], opts: RunMountOptions): Promise<string[]> {
  const out: string[] = [];
  for (const m of mounts) {
    if (m.bind === undefined) continue;
    const src = await mountSource(step, 'bind', m.bind.from, m.bind.source, opts);
    const hash = createHash('sha256');
    const record = (rel: string, st: Stats, content: string): void => {
      const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
      const owner = src.context ? '' : `${st.uid}:${st.gid}`;
      hash.update(`${JSON.stringify([rel, type, (st.mode & 0o7777).toString(8), owner, content])}\n`);
    };
    if (src.stat.isFile()) record('', src.stat, await sha256File(src.host));
    else {
      // The context directory's own mode depends on how it was checked out or unpacked.
      if (!src.context || m.bind.source !== '') record('', src.stat, '');
      for (const node of await listDirContents(src.host, src.filter ?? noFilter, step.signal)) {
        const content = node.stat.isFile() ? await sha256File(node.host) : node.stat.isSymbolicLink() ? await readlink(node.host) : '';
        record(node.rel, node.stat, content);
      }
    }
    out.push(JSON.stringify(['bind-content', m.target, `sha256:${hash.digest('hex')}`]));
  }
  return out;
}
