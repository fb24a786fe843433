// Layer implementations: from an uncompressed tar (compressed once into workDir), from a compressed
// file on disk, and from any lazily-opened compressed stream. All stream; none buffers a layer.
import { createReadStream, createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { PassThrough, Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { BuildError } from '../errors.ts';
import { createDigester, type Digester } from './digest.ts';
import type { Layer } from './image.ts';
import { createParallelGzip, type DeflatePool } from './parallel-gzip.ts';
import { MediaTypes, type Digest, type MediaType } from './types.ts';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Which compression a layer media type implies. */
export function compressionOf(mediaType: MediaType): Compression {
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.tar.zstd')) return 'zstd';
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType === MediaTypes.ociLayer || mediaType.endsWith('.tar')) return 'none';
  throw new BuildError('ARCHIVE', `unsupported layer media type ${JSON.stringify(mediaType)}`);
}

/** A fresh decompressor for the given layer media type (pass-through for plain tar). */
export function decompressStream(mediaType: MediaType): Transform {
  const c = compressionOf(mediaType);
  // 256 KiB of output per trip to the thread pool instead of 16 KiB: unpacking a Debian base took 1.9 s, now 1.1 s
  // (tar -xzf: 1.0 s).
  if (c === 'gzip') return zlib.createGunzip({ chunkSize: 256 * 1024 });
  if (c === 'zstd') return zlib.createZstdDecompress({ chunkSize: 256 * 1024 });
  return new PassThrough();
}

/** A pass-through that feeds every chunk to a digester. */
export function digestingStream(digester: Digester): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      digester.update(chunk);
      cb(null, chunk);
    },
  });
}

/** Streams to nowhere, returning digest and size; used to compute diffIds and in validation. */
export async function digestReadable(r: Readable): Promise<{ digest: Digest; size: number }> {
  const d = createDigester();
  await pipeline(r, new Writable({
    write(chunk: Buffer, _enc, cb): void {
      d.update(chunk);
      cb();
    },
  }));
  return { digest: d.digest(), size: d.bytes };
}

export interface LayerDescription {
  readonly digest: Digest;
  readonly diffId?: Digest;
  readonly size: number;
  readonly mediaType: MediaType;
}

/**
 * A layer whose compressed bytes come from `open()` (called once per stream). uncompressed()
 * decompresses by media type; an unknown diffId is computed on first use and memoised.
 */
export function layerFromOpener(open: () => Promise<Readable>, desc: LayerDescription): Layer {
  let diffId: Promise<Digest> | undefined = desc.diffId === undefined ? undefined : Promise.resolve(desc.diffId);
  const uncompressed = async (): Promise<Readable> => {
    const src = await open();
    const out = decompressStream(desc.mediaType);
    // Errors travel both ways so neither side leaks its file descriptor.
    src.on('error', (err) => out.destroy(err));
    out.on('error', () => src.destroy());
    return src.pipe(out);
  };
  return {
    digest: async () => desc.digest,
    size: async () => desc.size,
    mediaType: async () => desc.mediaType,
    compressed: open,
    uncompressed,
    diffId(): Promise<Digest> {
      diffId ??= uncompressed().then(digestReadable).then((r) => r.digest);
      diffId.catch(() => { diffId = undefined; }); // a failed attempt may be retried
      return diffId;
    },
  };
}

export function layerFromCompressedFile(filePath: string, desc: LayerDescription): Layer {
  return layerFromOpener(async () => openFile(filePath), desc);
}

async function openFile(filePath: string): Promise<Readable> {
  // 1 MiB reads: a blob streams to a registry or a file, and each 64 KiB read was a trip through the thread pool.
  const r = createReadStream(filePath, { highWaterMark: 1024 * 1024 });
  // Surface ENOENT etc. as a rejected promise rather than a later stream error.
  await new Promise<void>((resolve, reject) => {
    r.once('open', () => resolve());
    r.once('error', reject);
  });
  return r;
}

export interface TarFileLayerOptions {
  readonly compression?: 'gzip' | 'zstd';
  readonly level?: number;
  readonly mediaType?: MediaType;
  /** Where the compressed copy is written (kept for the layer's lifetime). */
  readonly workDir: string;
  /** gzip: the deflate workers (default: one per core, shared by the process). */
  readonly pool?: DeflatePool;
  /** zstd: libzstd compression threads (default 0: single-threaded; see createLayerCompressor). */
  readonly zstdWorkers?: number;
}

/**
 * The layer compressor. gzip: parallel blocks on every core, one gzip member (parallel-gzip.ts). zstd: single-threaded
 * by default: with libzstd's threads (ZSTD_c_nbWorkers ≥ 1) Node 24.21's stream wrapper once failed a 64 MiB stream
 * with ERR_STREAM_PUSH_AFTER_EOF (bench/compress.ts; not reproduced since), so threads are opt-in via zstdWorkers.
 * The bytes are the same for every zstdWorkers ≥ 1 but differ from 0, so a build must not mix them.
 */
export function createLayerCompressor(compression: 'gzip' | 'zstd', opts: { level?: number; pool?: DeflatePool; zstdWorkers?: number } = {}): Transform {
  if (compression === 'gzip') return createParallelGzip({ ...(opts.level !== undefined ? { level: opts.level } : {}), ...(opts.pool !== undefined ? { pool: opts.pool } : {}) });
  const params: Record<number, number> = {};
  if (opts.zstdWorkers !== undefined && opts.zstdWorkers > 0) params[zlib.constants.ZSTD_c_nbWorkers] = opts.zstdWorkers;
  if (opts.level !== undefined) params[zlib.constants.ZSTD_c_compressionLevel] = opts.level;
  return zlib.createZstdCompress({ params });
}

/**
 * What both ways of making a layer from its tar share: the compressor, a digester for each side, the compressed
 * file's path, and `finish`, the layer over that file (its uncompressed() decompresses that file).
 */
function startCompression(opts: TarFileLayerOptions) {
  const compression = opts.compression ?? 'gzip';
  const mediaType = opts.mediaType ?? (compression === 'zstd' ? MediaTypes.ociLayerZstd : MediaTypes.dockerLayerGzip);
  const compressor = createLayerCompressor(compression, {
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    ...(opts.pool !== undefined ? { pool: opts.pool } : {}),
    ...(opts.zstdWorkers !== undefined ? { zstdWorkers: opts.zstdWorkers } : {}),
  });
  const diffDigester = createDigester();
  const blobDigester = createDigester();
  const outPath = path.join(opts.workDir, `layer-${randomBytes(8).toString('hex')}${compression === 'zstd' ? '.tar.zst' : '.tar.gz'}`);
  const finish = (): Layer =>
    layerFromCompressedFile(outPath, { digest: blobDigester.digest(), diffId: diffDigester.digest(), size: blobDigester.bytes, mediaType });
  return { compressor, diffDigester, blobDigester, outPath, finish };
}

/**
 * Compresses an uncompressed layer tar once (hashing both sides on the way) into a file in workDir.
 * compressed() re-reads that file; uncompressed() re-reads the original tar.
 */
export async function layerFromTarFile(tarPath: string, opts: TarFileLayerOptions): Promise<Layer> {
  const { compressor, diffDigester, blobDigester, outPath, finish } = startCompression(opts);
  try {
    await pipeline(
      createReadStream(tarPath, { highWaterMark: 1024 * 1024 }),
      digestingStream(diffDigester),
      compressor,
      digestingStream(blobDigester),
      createWriteStream(outPath),
    );
  } catch (err) {
    throw new BuildError('ARCHIVE', `compressing layer ${tarPath}: ${(err as Error).message}`, { cause: err });
  }
  return { ...finish(), uncompressed: async () => openFile(tarPath) };
}

/**
 * A layer whose uncompressed tar is produced by `write` (which streams it into the sink it is given and resolves once
 * the sink has finished): the tar is compressed as it is written, hashing both sides on the way. Only the compressed
 * bytes reach the disk (uncompressed() decompresses them), and tar writing (main thread) overlaps compression (thread
 * pool).
 */
export async function layerFromTarWriter<T>(write: (sink: Writable) => Promise<T>,
  opts: TarFileLayerOptions): Promise<{ layer: Layer; result: T }> {
  const { compressor, diffDigester, blobDigester, outPath, finish } = startCompression(opts);
  const head = digestingStream(diffDigester);
  const compressing = pipeline(head, compressor, digestingStream(blobDigester), createWriteStream(outPath));
  const writing = write(head);
  const [w, c] = await Promise.allSettled([writing, compressing]);
  if (w.status === 'rejected') throw w.reason;
  if (c.status === 'rejected') {
    throw new BuildError('ARCHIVE', `compressing layer: ${(c.reason as Error).message}`, { cause: c.reason });
  }
  return { layer: finish(), result: w.value };
}
