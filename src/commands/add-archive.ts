// ADD's local archives, with the semantics of Docker's archive.Untar as BuildKit calls it: the
// archive is recognised by content (compression magic, then a valid first tar header), never by
// name; entries keep modes, owners and mtimes; there is no whiteout processing; what is in the way is
// replaced (a directory over a directory is merged). BuildKit runs the untar chrooted into the
// destination (go-archive chrootarchive.Untar), and this module reproduces what that chroot means:
// - every name and hardlink target is resolved with the destination as '/': '../x' lands at 'x', and
//   symlinks met on the way (from the root or the archive) are followed inside it, never out of it;
// - a symlink entry is created whatever it points at ('..', '../../etc', '/etc/passwd'): it is only data;
// - the entry for the destination itself ('.', './', 'a/..') is skipped whatever its type (Unpack:
//   `if fi.IsDir() && hdr.Name == "."` continue), so the destination keeps its own owner and mode; only an
//   entry named '/' (which Go cleans to '/', not '.') applies its metadata to the destination directory.
import { spawn } from 'node:child_process';
import { constants as fsc, createReadStream } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, open, symlink } from 'node:fs/promises';
import path, { posix } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { BuildError, isBuildError } from '../errors.ts';
import type { Log } from '../log.ts';
import type { Ownership } from '../rootfs/copy.ts';
import { ensureDirectories, lstatOrUndefined, removeTree, setNodeOwner } from '../rootfs/fs-nodes.ts';
import type { OwnershipTable } from '../ownership/table.ts';
import { resolveInRoot, toRootPath } from '../rootfs/resolve.ts';
import { makeDevice, makeFifo } from '../rootfs/special-files.ts';

/** Commands that decompress to stdout with `-dc` (Node has no bzip2 or xz). */
export interface Decompressors {
  readonly bzip2: string;
  readonly xz: string;
}

export const defaultDecompressors: Decompressors = Object.freeze({ bzip2: 'bzip2', xz: 'xz' });

type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const tarBlock = 512;

/** Docker's DetectCompression: by magic bytes only. */
async function sniffCompression(hostPath: string): Promise<Compression> {
  const fh = await open(hostPath, 'r');
  const buf = Buffer.alloc(6);
  let n: number;
  try {
    n = (await fh.read(buf, 0, buf.length, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  const head = buf.subarray(0, n);
  const starts = (magic: readonly number[]): boolean => magic.length <= head.length && magic.every((b, i) => head[i] === b);
  if (starts([0x1f, 0x8b, 0x08])) return 'gzip';
  if (starts([0x42, 0x5a, 0x68])) return 'bzip2';
  if (starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  if (starts([0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  return 'none';
}

/** Streams `tool -dc FILE`; a missing tool is NOT_SUPPORTED, a failing one an error with its stderr. */
function spawnDecompressor(tool: string, kind: string, hostPath: string): Readable {
  const out = new PassThrough();
  const child = spawn(tool, ['-dc', '--', hostPath], { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
  child.stdout.pipe(out, { end: false });
  child.on('error', (err: NodeJS.ErrnoException) => {
    if (out.destroyed) return;
    out.destroy(err.code === 'ENOENT'
      ? new BuildError('NOT_SUPPORTED', `ADD of a ${kind} archive needs ${tool}: it is not installed`)
      : err);
  });
  child.on('close', (code, sig) => {
    if (out.destroyed) return;
    if (code === 0) out.end();
    else out.destroy(new BuildError('BUILD', `${tool} -dc failed: ${stderr.trim() === '' ? `exit ${code ?? sig ?? '?'}` : stderr.trim()}`));
  });
  // The consumer may stop early (the archive probe reads one block): do not leave the tool running.
  out.on('close', () => { if (child.exitCode === null && child.signalCode === null) child.kill(); });
  return out;
}

/** The file's content after decompression, streamed. */
async function openDecompressed(hostPath: string, tools: Decompressors): Promise<Readable> {
  const compression = await sniffCompression(hostPath);
  if (compression === 'bzip2') return spawnDecompressor(tools.bzip2, 'bzip2', hostPath);
  if (compression === 'xz') return spawnDecompressor(tools.xz, 'xz', hostPath);
  const file = createReadStream(hostPath);
  if (compression === 'none') return file;
  const inflate = compression === 'gzip' ? createGunzip({ chunkSize: 256 * 1024 }) : createZstdDecompress({ chunkSize: 256 * 1024 });
  file.on('error', (err) => { inflate.destroy(err); });
  inflate.on('close', () => { file.destroy(); });
  return file.pipe(inflate);
}

/** Go's tar reader accepts a header whose checksum matches as unsigned or signed byte sum. */
function isTarHeader(block: Buffer): boolean {
  if (block.length < tarBlock || block.subarray(0, tarBlock).every((b) => b === 0)) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (!/^[0-7]+$/.test(field)) return false;
  const want = Number.parseInt(field, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < tarBlock; i += 1) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b >= 0x80 ? b - 0x100 : b;
  }
  return want === unsigned || want === signed;
}

/**
 * BuildKit's isArchivePath: a regular file whose (decompressed) content starts with a valid tar
 * header. Corrupt compressed data means "not an archive" (it is copied as is); a missing bzip2/xz
 * tool is an error, since the answer cannot be known.
 */
export async function isTarArchive(hostPath: string, tools: Decompressors): Promise<boolean> {
  const stream = await openDecompressed(hostPath, tools);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      chunks.push(buf);
      total += buf.length;
      if (total >= tarBlock) break;
    }
  } catch (err) {
    if (isBuildError(err) && err.code === 'NOT_SUPPORTED') throw err;
    return false;
  } finally {
    stream.destroy();
  }
  return isTarHeader(Buffer.concat(chunks));
}

export interface ExtractArchiveOptions {
  readonly root: string;
  /** An existing directory in the root ('/a/b', already resolved): the chroot of the untar. */
  readonly destRootPath: string;
  /** --chown: applied to every entry (BuildKit >= 0.23); otherwise the entries' own uid/gid. */
  readonly owner: Ownership | undefined;
  readonly tools: Decompressors;
  /** Names the source in messages. */
  readonly source: string;
  readonly log: Log;
  readonly signal: AbortSignal;
  /** Receives every root path created or written ('/a/b'). */
  readonly changed: Set<string>;
  /** Non-root mode: owners and modes are recorded here, not set on disk. */
  readonly owners?: OwnershipTable | undefined;
}

interface UntarState extends ExtractArchiveOptions {
  readonly destHost: string;
  readonly dirTimes: Map<string, Date>;
}

type EntryData = AsyncIterable<unknown>;

function refuse(o: ExtractArchiveOptions, name: string, why: string): BuildError {
  return new BuildError('BUILD', `ADD failed: archive ${JSON.stringify(o.source)}: entry ${JSON.stringify(name)} ${why}`);
}

/**
 * An entry name or hardlink target as the chrooted Unpack sees it: joined to '/' and cleaned, so it can
 * never climb out of the destination ('..' at the top stays at the top). '' is the destination itself.
 */
function cleanName(name: string): string {
  return posix.normalize(`/${name}`).replace(/^\/+|\/+$/g, '');
}

function paxId(header: Header, key: 'uid' | 'gid'): number | undefined {
  const pax = header.pax;
  const text = typeof pax === 'object' && pax !== null ? (pax as Record<string, unknown>)[key] : undefined;
  return typeof text === 'string' && /^[0-9]{1,10}$/.test(text) ? Number(text) : undefined;
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new BuildError('BUILD', 'tar parser produced a non-binary chunk');
}

async function drain(entry: EntryData): Promise<void> {
  for await (const _chunk of entry) { /* discard */ }
}

/** Extracts the (possibly compressed) tar at archivePath into destRootPath. */
export async function extractArchive(archivePath: string, opts: ExtractArchiveOptions): Promise<void> {
  const destHost = await resolveInRoot(opts.root, opts.destRootPath);
  const state: UntarState = { ...opts, destHost, dirTimes: new Map() };
  const source = await openDecompressed(archivePath, opts.tools);
  const extractor = tarStream.extract();
  source.on('error', (err) => { extractor.destroy(err); });
  source.pipe(extractor);
  try {
    for await (const entry of extractor) {
      opts.signal.throwIfAborted();
      await applyEntry(state, entry.header, entry);
    }
  } catch (err) {
    source.destroy();
    if (isBuildError(err) || (err instanceof Error && err.name === 'AbortError')) throw err;
    throw new BuildError('BUILD', `ADD failed: cannot extract archive ${JSON.stringify(opts.source)}: ${(err as Error).message}`, { cause: err });
  }
  // Last: writing children changes a directory's mtime.
  for (const [dir, mtime] of state.dirTimes) {
    if ((await lstatOrUndefined(dir))?.isDirectory() === true) await lutimes(dir, mtime, mtime);
  }
}

async function applyEntry(s: UntarState, header: Header, entry: EntryData): Promise<void> {
  const rel = cleanName(header.name);
  const type = header.type;
  const host = rel === '' ? s.destHost : await resolveInRoot(s.destHost, `/${rel}`, { followFinal: false });
  if (host === s.destHost) {
    await drain(entry);
    // The chrooted Unpack skips '.' (the destination is a directory: BuildKit made it); Go cleans a name of '/'
    // to '/', not '.', so that one merges its directory metadata into the destination.
    if (type === 'directory' && posix.normalize(header.name).startsWith('/')) {
      const owner: Ownership = s.owner ?? { uid: paxId(header, 'uid') ?? header.uid, gid: paxId(header, 'gid') ?? header.gid };
      setNodeOwner(s.root, host, owner.uid, owner.gid, header.mode & 0o7777, true, s.owners);
      s.dirTimes.set(host, header.mtime);
      s.changed.add(toRootPath(s.root, host));
    }
    return;
  }
  const owner: Ownership = s.owner ?? { uid: paxId(header, 'uid') ?? header.uid, gid: paxId(header, 'gid') ?? header.gid };
  const parentOwner: Ownership = s.owner ?? { uid: 0, gid: 0 };
  await ensureDirectories(s.destHost, path.dirname(host), { ...parentOwner, mode: 0o755 }, `ADD archive entry ${JSON.stringify(header.name)}`,
    (created) => { s.changed.add(toRootPath(s.root, created)); }, s.owners, s.root);
  const mode = header.mode & 0o7777;
  const mtime = header.mtime;
  const existing = await lstatOrUndefined(host);
  const merge = existing?.isDirectory() === true && type === 'directory';
  if (existing !== undefined && !merge && type !== 'link') await removeTree(host, () => false);
  switch (type) {
    case 'directory':
      await drain(entry);
      if (!merge) await mkdir(host, { mode: 0o700 });
      setNodeOwner(s.root, host, owner.uid, owner.gid, mode, true, s.owners);
      s.dirTimes.set(host, mtime);
      break;
    case 'file':
    case 'contiguous-file':
      await writeFile(host, entry, s.owners === undefined ? owner : undefined, mode);
      if (s.owners !== undefined) setNodeOwner(s.root, host, owner.uid, owner.gid, mode, false, s.owners);
      await lutimes(host, mtime, mtime);
      break;
    case 'symlink':
      await drain(entry);
      // Created as data, whatever it points at: inside the chroot even '../..' names the destination.
      await symlink(header.linkname, host);
      if (s.owners !== undefined) s.owners.set(toRootPath(s.root, host), { uid: owner.uid, gid: owner.gid, mode: 0o777 });
      else await lchown(host, owner.uid, owner.gid);
      await lutimes(host, mtime, mtime);
      break;
    case 'link':
      await drain(entry);
      await applyHardlink(s, host, header, existing !== undefined);
      break;
    case 'fifo':
    case 'character-device':
    case 'block-device': {
      await drain(entry);
      if (s.owners !== undefined && type !== 'fifo') {
        // Non-root: no mknod. The device is recorded; an empty placeholder file keeps its name on disk.
        await (await open(host, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600)).close();
        s.owners.set(toRootPath(s.root, host), { uid: owner.uid, gid: owner.gid, mode, device: {
          kind: type === 'block-device' ? 'block' : 'char', major: header.devmajor, minor: header.devminor } });
        await lutimes(host, mtime, mtime);
        break;
      }
      const made = type === 'fifo'
        ? await makeFifo(host, mode)
        : await makeDevice(host, type === 'block-device' ? 'block' : 'char', mode, header.devmajor, header.devminor);
      if (made.kind !== 'ok') {
        // As Untar in a user namespace: devices that cannot be made are skipped.
        s.log.warn({ entry: header.name, reason: made.kind === 'failed' ? made.message : `${made.tool} not installed` }, 'ADD skips a special file from the archive');
        return;
      }
      setNodeOwner(s.root, host, owner.uid, owner.gid, mode, false, s.owners);
      await lutimes(host, mtime, mtime);
      break;
    }
    default:
      s.log.warn({ entry: header.name, type }, 'ADD skips an archive entry of unsupported type');
      await drain(entry);
      return;
  }
  s.changed.add(toRootPath(s.root, host));
}

async function writeFile(host: string, entry: EntryData, owner: Ownership | undefined, mode: number): Promise<void> {
  // O_EXCL|O_NOFOLLOW: whatever was there is gone; never write through a node that reappeared.
  const fh = await open(host, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    for await (const data of entry) {
      const chunk = toBuffer(data);
      let offset = 0;
      while (offset < chunk.length) offset += (await fh.write(chunk, offset, chunk.length - offset)).bytesWritten;
    }
    if (owner === undefined) return; // non-root mode: the caller records owner and mode
    await fh.chown(owner.uid, owner.gid);
    // After chown: chown clears setuid/setgid.
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

async function applyHardlink(s: UntarState, host: string, header: Header, exists: boolean): Promise<void> {
  const targetRel = cleanName(header.linkname);
  const target = await resolveInRoot(s.destHost, `/${targetRel}`, { followFinal: false });
  const st = await lstatOrUndefined(target);
  if (st === undefined) throw refuse(s, header.name, `is a hardlink to missing ${JSON.stringify(header.linkname)}`);
  if (st.isDirectory()) throw refuse(s, header.name, `is a hardlink to directory ${JSON.stringify(header.linkname)}`);
  if (target === host) return;
  if (exists) await removeTree(host, () => false);
  await link(target, host);
  s.owners?.link(toRootPath(s.root, target), toRootPath(s.root, host));
}
