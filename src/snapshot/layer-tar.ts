// Writes one layer tar from a set of paths inside the build root: parents first, sorted, PAX headers
// (tar-stream switches to PAX for long names and big ids), hardlinks kept as links inside the layer, and
// deletions as whiteout entries. The tar streams to a file; only small files' contents are held, one at a time.
// Metadata and small files are read synchronously: a layer is mostly small files, and a trip through libuv's thread
// pool per lstat/read cost ~10× the syscall (that was ~90 µs per file).
import { createReadStream, createWriteStream, lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { BuildError } from '../errors.ts';
import { resolveInRootSync, toRootPath } from '../rootfs/resolve.ts';
import type { OwnershipTable } from '../ownership/table.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';

export interface LayerChanges {
  /** Root paths ('/a/b') added or changed. Parent directories are added automatically. */
  readonly added: readonly string[];
  /** Root paths deleted since the previous layer: each becomes a `.wh.<name>` entry. */
  readonly deleted: readonly string[];
  /** Directories whose lower contents were replaced wholesale: each gets a `.wh..wh..opq` marker. */
  readonly opaque?: readonly string[];
}

export interface LayerTarOptions {
  readonly ignore?: IgnoreList;
  /** When set (--reproducible / SOURCE_DATE_EPOCH), every timestamp is clamped to this time. */
  readonly timestamp?: Date;
  /**
   * Non-root mode: owners, modes and recorded devices come from this table, not the disk (a path without a record is
   * 0:0 with the mode on disk: what a root build gives a node it created).
   */
  readonly owners?: OwnershipTable;
}

export interface LayerTarResult {
  readonly entries: number;
}

/** Normalises to '/a/b' form; rejects nothing, '..' cannot climb above '/'. */
export function cleanRootPath(p: string): string {
  const cleaned = posix.normalize('/' + p);
  return cleaned.length > 1 && cleaned.endsWith('/') ? cleaned.slice(0, -1) : cleaned;
}

function withParents(paths: Iterable<string>): Set<string> {
  const all = new Set<string>();
  for (const raw of paths) {
    let p = cleanRootPath(raw);
    while (p !== '/' && !all.has(p)) {
      all.add(p);
      p = posix.dirname(p);
    }
  }
  return all;
}

type Entry = { readonly path: string; readonly kind: 'file' | 'whiteout' | 'opaque' };

/** The entries of a layer in the order they are written: lexical by tar name, so parents precede children. */
export function planLayer(changes: LayerChanges, ignore?: IgnoreList): Entry[] {
  const skip = (p: string): boolean => ignore?.ignores(p) ?? false;
  const entries: Entry[] = [];
  const present = withParents(changes.added.filter((p) => !skip(cleanRootPath(p))));
  for (const p of present) entries.push({ path: p, kind: 'file' });
  for (const raw of changes.deleted) {
    const p = cleanRootPath(raw);
    if (p === '/' || skip(p)) continue;
    for (const parent of withParents([posix.dirname(p)])) {
      if (!present.has(parent)) { present.add(parent); entries.push({ path: parent, kind: 'file' }); }
    }
    entries.push({ path: posix.join(posix.dirname(p), '.wh.' + posix.basename(p)), kind: 'whiteout' });
  }
  for (const raw of changes.opaque ?? []) {
    const p = cleanRootPath(raw);
    if (skip(p)) continue;
    entries.push({ path: posix.join(p, '.wh..wh..opq'), kind: 'opaque' });
  }
  const name = (e: Entry): string => e.path.slice(1);
  entries.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  return entries;
}

function clampTime(t: Date, opts: LayerTarOptions): Date {
  return opts.timestamp ?? t;
}

/** What is read of one path before its entry is written. */
interface Prepared {
  readonly host: string;
  readonly st: Stats;
  readonly linkTarget?: string;
  /** Contents of a small regular file, read in one call. */
  readonly body?: Buffer;
}

/** Writes the layer tar for `changes` (paths inside `root`) to `outPath`. */
export async function writeLayerTar(root: string, changes: LayerChanges, outPath: string,
  opts: LayerTarOptions = {}): Promise<LayerTarResult> {
  return writeLayerTarTo(root, changes, createWriteStream(outPath), opts);
}

/**
 * Streams the layer tar for `changes` into `out` (e.g. a compressor, so the tar is never written and re-read); resolves
 * once `out` has finished. `out` is destroyed on failure.
 */
export async function writeLayerTarTo(root: string, changes: LayerChanges, out: Writable,
  opts: LayerTarOptions = {}): Promise<LayerTarResult> {
  const plan = planLayer(changes, opts.ignore);
  const pack = tar.pack();
  // tar-stream acknowledges an entry once it is queued, not once it is written: without a bound the tar of many
  // small files piles up in memory ahead of the disk. Count what was queued against what reached the file.
  let queued = 0;
  let flushed = 0;
  let wake: (() => void) | undefined;
  // It also batches tar-stream's many small chunks (a 512-byte header, then a tiny body, per small file) into
  // blocks of `batch` bytes: one write, one hash update and one compressor call per block instead of per chunk.
  let held: Buffer[] = [];
  let heldBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb): void {
      flushed += chunk.length;
      if (wake !== undefined && queued - flushed <= lowWater) { wake(); wake = undefined; }
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes < batch) { cb(); return; }
      const out = held.length === 1 ? chunk : Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
      cb(null, out);
    },
    flush(cb): void {
      cb(null, heldBytes > 0 ? Buffer.concat(held, heldBytes) : undefined);
    },
  });
  const done = pipeline(pack, meter, out);
  // `queued` is a lower bound of the bytes an entry emits (one 512-byte header, the body padded to 512), so
  // queued - flushed never exceeds what is really pending and a wait always ends.
  const put = async (header: Partial<tar.Header> & { name: string }, body?: Buffer): Promise<void> => {
    await addEntry(pack, header, body);
    queued += 512 + Math.ceil((body?.length ?? 0) / 512) * 512;
    if (queued - flushed > highWater) await new Promise<void>((resolve) => { wake = resolve; });
  };
  // First path seen for each multiply-linked inode: later paths become hardlink entries.
  const inodes = new Map<string, string>();
  // Entries come parents first, so each directory is checked once (a real directory, reached without a symlink)
  // and its children join it directly: one lstat per entry instead of one per path component.
  const realDirs = new Set<string>(['/']);
  const prepare = (path: string): Prepared | undefined => {
    const lexical = join(root, path);
    const host = realDirs.has(posix.dirname(path)) ? lexical : resolveInRootSync(root, path, { followFinal: false });
    let st: Stats;
    try {
      st = lstatSync(host);
    } catch (err) {
      // A path reported as changed but gone by now (e.g. a temp file removed in the same step) is not an error.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (st.isDirectory()) {
      if (host === lexical) realDirs.add(path);
      return { host, st };
    }
    if (st.isSymbolicLink()) return { host, st, linkTarget: readlinkSync(host) };
    // Small files in one read: a stream per file costs more than the bytes (most layers are many small files).
    if (st.isFile() && st.size <= smallFile && !(st.nlink > 1 && inodes.has(`${st.dev}:${st.ino}`))) return { host, st, body: readFileSync(host) };
    return { host, st };
  };
  let count = 0;
  try {
    for (const entry of plan) {
      const name = entry.path.slice(1);
      if (entry.kind !== 'file') {
        // Whiteouts need nothing from disk.
        await put({ name, type: 'file', size: 0, mode: 0, uid: 0, gid: 0, mtime: opts.timestamp ?? new Date(0) });
        count++;
        continue;
      }
      const ready = prepare(entry.path);
      if (ready === undefined) continue;
      const { host, st } = ready;
      const rec = opts.owners?.get(host === join(root, entry.path) ? entry.path : toRootPath(root, host));
      const base = opts.owners === undefined
        ? { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: clampTime(st.mtime, opts) }
        : { mode: rec?.mode ?? st.mode & 0o7777, uid: rec?.uid ?? 0, gid: rec?.gid ?? 0, mtime: clampTime(st.mtime, opts) };
      if (rec?.device !== undefined && st.isFile()) {
        // A device recorded, not created (non-root mode): the placeholder on disk stands for it.
        await put({ ...base, name, type: rec.device.kind === 'block' ? 'block-device' : 'character-device',
          devmajor: rec.device.major, devminor: rec.device.minor });
      } else if (st.isDirectory()) {
        await put({ ...base, name: name + '/', type: 'directory' });
      } else if (st.isSymbolicLink()) {
        await put({ ...base, name, type: 'symlink', linkname: ready.linkTarget ?? '' });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          await put({ ...base, name, type: 'link', linkname: first, size: 0 });
        } else {
          if (st.nlink > 1) inodes.set(key, name);
          if (ready.body !== undefined) {
            await put({ ...base, name, type: 'file', size: ready.body.length }, ready.body);
          } else {
            const sink = pack.entry({ ...base, name, type: 'file', size: st.size });
            await pipeline(createReadStream(host, { start: 0, end: Math.max(0, st.size - 1), highWaterMark: 1024 * 1024 }), sink);
          }
        }
      } else if (st.isFIFO()) {
        await put({ ...base, name, type: 'fifo' });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        await put({
          ...base, name, type: st.isCharacterDevice() ? 'character-device' : 'block-device',
          devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
        });
      } else {
        continue; // sockets are never part of an image (as Docker)
      }
      count++;
    }
    pack.finalize();
    await done;
  } catch (err) {
    pack.destroy();
    await done.catch(() => undefined);
    if (err instanceof BuildError) throw err;
    throw new BuildError('BUILD', `writing layer: ${(err as Error).message}`, { cause: err });
  }
  return { entries: count };
}

const smallFile = 256 * 1024;
/** Tar bytes gathered into one chunk before they go downstream. */
const batch = 64 * 1024;
/** Bytes of tar allowed in memory ahead of the file, and the level at which the writer resumes. */
const highWater = 8 * 1024 * 1024;
const lowWater = 2 * 1024 * 1024;

function addEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, body: Buffer = Buffer.alloc(0)): Promise<void> {
  return new Promise((resolve, reject) => {
    // An explicit body (empty for non-files): without one tar-stream waits for a body stream even for size-0 entries.
    pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
  });
}
