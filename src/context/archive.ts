// Unpacks a build-context tarball (gzip, zstd or plain tar, told apart by magic bytes) into a
// directory, streaming: source → decompressor → tar parser → files, never the whole archive in
// memory. Contexts are untrusted input: every entry is resolved inside the destination with
// rootfs's SecureJoin before anything is written, so no name, symlink or hardlink can write outside.
import { constants as fsc } from 'node:fs';
import { chmod, link, lutimes, mkdir, open, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { BuildError } from '../errors.ts';
import type { Log } from '../log.ts';
import { lstatOrUndefined } from '../rootfs/fs-nodes.ts';
import { resolveInRoot } from '../rootfs/resolve.ts';

export interface ExtractContextOptions {
  /** Names the archive in messages; must already be redacted. */
  readonly source: string;
  readonly log: Log;
  readonly signal?: AbortSignal;
}

export interface ExtractContextResult {
  /** Tar entries read (skipped ones included). */
  readonly entries: number;
  /** Bytes of regular-file content written. */
  readonly bytes: number;
}

type Compression = 'gzip' | 'zstd' | 'none';

/** A failure of one stage of the stream, so the message can say which data was bad. */
class StageError extends Error {
  readonly stage: Compression | 'tar' | 'read';
  constructor(stage: Compression | 'tar' | 'read', cause: Error) {
    super(cause.message, { cause });
    this.stage = stage;
  }
}

export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Reads up to n bytes without consuming them (they are unshifted back). */
async function peek(input: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const chunk = input.read() as Buffer | string | null;
    if (chunk !== null) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      parts.push(buf);
      have += buf.length;
      continue;
    }
    if (input.readableEnded || input.destroyed) break;
    const more = await new Promise<boolean>((resolve, reject) => {
      const cleanup = (): void => {
        input.off('readable', onReadable);
        input.off('end', onEnd);
        input.off('error', onError);
      };
      const onReadable = (): void => { cleanup(); resolve(true); };
      const onEnd = (): void => { cleanup(); resolve(false); };
      const onError = (err: Error): void => { cleanup(); reject(err); };
      input.on('readable', onReadable);
      input.on('end', onEnd);
      input.on('error', onError);
    });
    if (!more) break;
  }
  const head = Buffer.concat(parts);
  if (head.length > 0) input.unshift(head);
  return head;
}

/** 'a/./b/' → 'a/b'; '/x' → 'x'; '' for the top; null when the name climbs out. */
function cleanName(name: string): string | null {
  const normalized = path.posix.normalize(`/${name}`);
  // normalize('/' + name) swallows '..' at the top, so compare against a plain normalize too.
  const plain = path.posix.normalize(name.replace(/^\/+/, ''));
  if (plain === '..' || plain.startsWith('../')) return null;
  return normalized.replace(/^\/+/, '').replace(/\/+$/, '');
}

interface State {
  readonly dest: string;
  readonly opts: ExtractContextOptions;
  /** Applied after every entry: writing children changes a directory's mtime, and a read-only mode would stop them. */
  readonly dirs: Map<string, { mode: number; mtime: Date }>;
  bytes: number;
}

function leaves(opts: ExtractContextOptions, name: string): BuildError {
  return new BuildError('CONTEXT', `${opts.source}: tar entry ${JSON.stringify(name)} would leave the context directory`);
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _chunk of entry) { /* discard */ }
}

/** Removes whatever is at host unless it is a directory and keepDir is set. Never follows a link. */
async function clear(host: string, keepDir: boolean): Promise<void> {
  const st = await lstatOrUndefined(host);
  if (st === undefined || (keepDir && st.isDirectory())) return;
  await rm(host, { recursive: true, force: true });
}

async function applyEntry(state: State, header: Header, entry: AsyncIterable<unknown>): Promise<void> {
  const { dest, opts } = state;
  const rel = cleanName(header.name);
  if (rel === null) throw leaves(opts, header.name);
  const host = await resolveInRoot(dest, rel, { followFinal: false });
  const type = header.type ?? 'file';
  const mode = (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o7777;
  const mtime = header.mtime ?? new Date(0);
  if (host === dest) {
    await drain(entry);
    if (type !== 'directory') throw new BuildError('CONTEXT', `${opts.source}: tar entry ${JSON.stringify(header.name)} would replace the context directory`);
    return;
  }
  // resolveInRoot already followed every existing link in the parent inside dest; missing parents are plain names.
  await mkdir(path.dirname(host), { recursive: true });
  switch (type) {
    case 'directory':
      await drain(entry);
      await clear(host, true);
      await mkdir(host, { recursive: true });
      state.dirs.set(host, { mode, mtime });
      return;
    case 'file':
    case 'contiguous-file': {
      await clear(host, false);
      // O_EXCL|O_NOFOLLOW: never write through a link that appeared at this name.
      const fh = await open(host, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of entry) {
          const buf = chunk as Uint8Array;
          await fh.write(buf);
          state.bytes += buf.byteLength;
        }
      } finally {
        await fh.close();
      }
      await chmod(host, mode);
      await lutimes(host, mtime, mtime);
      return;
    }
    case 'symlink':
      await drain(entry);
      await clear(host, false);
      // The target is data: stored verbatim, never followed here (later entries resolve through it inside dest).
      await symlink(header.linkname ?? '', host);
      await lutimes(host, mtime, mtime);
      return;
    case 'link': {
      await drain(entry);
      const targetName = header.linkname ?? '';
      const targetRel = cleanName(targetName);
      if (targetRel === null || targetRel === '') throw leaves(opts, `${header.name} -> ${targetName}`);
      const target = await resolveInRoot(dest, targetRel, { followFinal: false });
      const st = await lstatOrUndefined(target);
      if (st === undefined || st.isDirectory()) {
        throw new BuildError('CONTEXT', `${opts.source}: tar entry ${JSON.stringify(header.name)} is a hardlink to ${JSON.stringify(targetName)}, which is ${st === undefined ? 'not in the archive before it' : 'a directory'}`);
      }
      await clear(host, false);
      await link(target, host);
      return;
    }
    default:
      await drain(entry);
      opts.log.warn({ source: opts.source, entry: header.name, type }, 'Skipping context tar entry of unsupported type');
  }
}

function describeFailure(source: string, err: unknown): BuildError {
  if (err instanceof BuildError) {
    return err.code === 'CONTEXT' ? err : new BuildError('CONTEXT', `${source}: ${err.message}`, { cause: err });
  }
  if (err instanceof StageError) {
    const why = err.message;
    switch (err.stage) {
      case 'gzip': return new BuildError('CONTEXT', `${source}: corrupt gzip data: ${why}`, { cause: err.cause });
      case 'zstd': return new BuildError('CONTEXT', `${source}: corrupt zstd data: ${why}`, { cause: err.cause });
      case 'read': return new BuildError('CONTEXT', `${source}: reading the archive failed: ${why}`, { cause: err.cause });
      default: return new BuildError('CONTEXT', `${source}: corrupt tar data: ${why}`, { cause: err.cause });
    }
  }
  const e = err as NodeJS.ErrnoException;
  if (e.name === 'AbortError') return new BuildError('CONTEXT', `${source}: extraction aborted`, { cause: err });
  return new BuildError('CONTEXT', `${source}: cannot extract the build context: ${e.message}`, { cause: err });
}

/**
 * Streams a context archive into destDir (created if missing). Gzip (1f 8b), zstd (28 b5 2f fd) or
 * plain tar. Modes and mtimes are kept, owners ignored (contexts are just files). Logs one line with
 * the entry and byte counts.
 */
export async function extractContextArchive(input: Readable, destDir: string, opts: ExtractContextOptions): Promise<ExtractContextResult> {
  const dest = path.resolve(destDir);
  await mkdir(dest, { recursive: true });
  const state: State = { dest, opts, dirs: new Map(), bytes: 0 };
  const extractor = tarStream.extract();
  let decompressor: Transform | undefined;
  const onAbort = (): void => {
    const reason: unknown = opts.signal?.reason;
    extractor.destroy(reason instanceof Error ? reason : new Error('aborted'));
  };
  const onInputError = (err: Error): void => { extractor.destroy(new StageError('read', err)); };
  let entries = 0;
  try {
    opts.signal?.throwIfAborted();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const compression = detectCompression(await peek(input, 4));
    input.on('error', onInputError);
    if (compression === 'none') {
      input.pipe(extractor);
    } else {
      const d = compression === 'gzip' ? createGunzip({ chunkSize: 256 * 1024 }) : createZstdDecompress({ chunkSize: 256 * 1024 });
      decompressor = d;
      d.on('error', (err: Error) => { extractor.destroy(new StageError(compression, err)); });
      input.pipe(d).pipe(extractor);
    }
    opts.log.debug({ source: opts.source, compression }, 'Unpacking build context');
    try {
      for await (const entry of extractor) {
        entries += 1;
        opts.signal?.throwIfAborted();
        await applyEntry(state, entry.header, entry);
      }
    } catch (err) {
      // tar-stream reports its own parse errors plainly; ours and the stages' arrive tagged.
      if (err instanceof Error && !(err instanceof BuildError) && !(err instanceof StageError) && err.name !== 'AbortError' && (err as NodeJS.ErrnoException).code === undefined) {
        throw new StageError('tar', err);
      }
      throw err;
    }
    // Deepest first, so a read-only parent is made read-only after its children were touched.
    const dirs = [...state.dirs].sort(([a], [b]) => b.length - a.length);
    for (const [dir, { mode, mtime }] of dirs) {
      if ((await lstatOrUndefined(dir))?.isDirectory() !== true) continue;
      await chmod(dir, mode);
      await lutimes(dir, mtime, mtime);
    }
  } catch (err) {
    input.unpipe();
    input.destroy();
    decompressor?.destroy();
    extractor.destroy();
    throw describeFailure(opts.source, opts.signal?.aborted === true ? Object.assign(new Error('aborted'), { name: 'AbortError' }) : err);
  } finally {
    input.off('error', onInputError);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  opts.log.info({ source: opts.source, entries, bytes: state.bytes }, `Unpacked build context from ${opts.source}: ${entries} entries, ${state.bytes} bytes`);
  return { entries, bytes: state.bytes };
}
