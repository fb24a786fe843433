// gzip on every core, pigz's way: the input is cut into fixed-size blocks, each block is raw-deflated with the
// previous 32 KiB of input as its dictionary and ends in a sync flush (byte-aligned, not final); the last block ends in
// Z_FINISH. The blocks concatenate into ONE deflate stream under one gzip header and trailer (CRC-32 and size computed
// here, in order). Chosen over a gzip member per block because the output is one ordinary gzip member, within ~0.1% of
// zlib's size (the dictionary carries matches across block edges), and an input shorter than a block gives
// byte-for-byte zlib.gzipSync's output.
// The blocks are deflated by zlib's asynchronous one-shot API, i.e. on libuv's thread pool: no worker isolates (each
// held ~100 MiB of buffers it collected late) and no copies between threads. bin/executor raises UV_THREADPOOL_SIZE so
// deflate jobs do not starve the file reads that feed them.
// Blocks that look incompressible (looksIncompressible) are stored rather than searched for matches.
// Deterministic: the bytes depend only on input, level and block size, never on the concurrency or timing.
// Bounded: at most `maxInFlight` blocks are read ahead; the stream's own backpressure does the rest.
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
const WINDOW = 32 * 1024;

interface Job {
  readonly block: Uint8Array;
  readonly dict: Uint8Array;
  readonly level: number;
  readonly last: boolean;
  readonly resolve: (out: Buffer) => void;
  readonly reject: (err: Error) => void;
}

/** At most `size` block deflates at once on libuv's thread pool, started in FIFO order. */
export class DeflatePool {
  private readonly waiting: Job[] = [];
  private running = 0;
  private closed = false;

  readonly size: number;

  constructor(size: number) {
    this.size = size;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`DeflatePool size must be ≥ 1, got ${size}`);
  }

  /** Raw deflate of `block` with `dict` as the preset dictionary, ending in Z_FINISH when `last`, else Z_SYNC_FLUSH. */
  deflate(block: Uint8Array, dict: Uint8Array, level: number, last: boolean): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (this.closed) { reject(new Error('deflate pool closed')); return; }
      this.waiting.push({ block, dict, level, last, resolve, reject });
      this.pump();
    });
  }

  /** Refuses new work; jobs not yet started fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error('deflate pool closed'));
  }

  private pump(): void {
    while (this.running < this.size) {
      const job = this.waiting.shift();
      if (job === undefined) return;
      this.running++;
      const done = (): void => { this.running--; this.pump(); };
      const opts: zlib.ZlibOptions = {
        level: job.level,
        finishFlush: job.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
        // One output buffer big enough for the whole block (stored blocks add 5 bytes per 64 KiB): one trip to the
        // thread pool per block instead of one per 16 KiB of output.
        chunkSize: job.block.byteLength + (job.block.byteLength >>> 7) + 1024,
      };
      if (job.dict.length > 0) opts.dictionary = job.dict;
      try {
        zlib.deflateRaw(job.block, opts, (err, out) => {
          done();
          if (err === null) job.resolve(out);
          else job.reject(new Error(`deflate: ${err.message}`));
        });
      } catch (err) {
        done();
        job.reject(new Error(`deflate: ${(err as Error).message}`));
      }
    }
  }
}

let shared: DeflatePool | undefined;
/**
 * One pool per process: one deflate more than the cores this process may use, so a core never idles while the main
 * thread gets round to starting the next block (bench/compress.ts, 2 cores, level 1: 2 at once 1.75×, 3 at once 2.1×).
 */
export function sharedDeflatePool(): DeflatePool {
  shared ??= new DeflatePool(Math.max(1, availableParallelism()) + 1);
  return shared;
}

export interface ParallelGzipOptions {
  /** 0–9; -1 or undefined: zlib's default (6). */
  readonly level?: number;
  readonly blockSize?: number;
  readonly pool?: DeflatePool;
  /** Blocks read ahead of the output (default: pool size + 2, enough to keep every worker busy). */
  readonly maxInFlight?: number;
}

/** Sampled bytes whose order-0 entropy is at least this (bits per byte) mark a block as incompressible. */
const STORE_ENTROPY = 7.99;
const SAMPLE_STRIDE = 16;
const histogram = new Uint32Array(256);

/**
 * True when the block's bytes are close to uniformly distributed (entropy ≥ 7.99 bits/byte over every 16th byte):
 * random or already-compressed data, where deflate finds nothing to gain. Text and binaries sit far below (4–6.5).
 * Small blocks are never judged: the sample would be too small.
 */
export function looksIncompressible(block: Uint8Array): boolean {
  if (block.length < 64 * 1024) return false;
  histogram.fill(0);
  let n = 0;
  for (let i = 0; i < block.length; i += SAMPLE_STRIDE) { histogram[block[i] ?? 0]!++; n++; }
  let entropy = 0;
  for (const count of histogram) {
    if (count === 0) continue;
    const p = count / n;
    entropy -= p * Math.log2(p);
  }
  return entropy >= STORE_ENTROPY;
}

/** The gzip header zlib writes: no name, mtime 0, XFL from the level, OS = Unix. */
function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
}

/** A Transform from bytes to one gzip member, deflated in parallel blocks (see the file comment). */
export function createParallelGzip(opts: ParallelGzipOptions = {}): Transform {
  const level = opts.level === undefined || opts.level < 0 ? 6 : opts.level;
  if (!Number.isInteger(level) || level > 9) throw new RangeError(`gzip level must be 0–9, got ${level}`);
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < 2 * WINDOW) throw new RangeError(`block size must be ≥ ${2 * WINDOW}`);
  const poolOf = (): DeflatePool => opts.pool ?? sharedDeflatePool();
  const maxInFlight = (): number => opts.maxInFlight ?? poolOf().size + 2;

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let crc = 0;
  let total = 0;
  let dict: Uint8Array = new Uint8Array(0);
  const queue: Promise<Buffer>[] = [];
  let headerSent = false;

  const take = (n: number): Buffer => {
    // A pending chunk that is exactly one block is used as it is (no copy).
    const first = pending[0];
    if (first !== undefined && first.length === n) { pending.shift(); pendingBytes -= n; return first; }
    const block = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const head = pending[0];
      if (head === undefined) break;
      const want = n - at;
      if (head.length <= want) {
        head.copy(block, at);
        at += head.length;
        pending.shift();
      } else {
        head.copy(block, at, 0, want);
        pending[0] = head.subarray(want);
        at += want;
      }
    }
    pendingBytes -= n;
    return block;
  };

  const submit = (block: Buffer, last: boolean): void => {
    crc = zlib.crc32(block, crc);
    total += block.length;
    const thisDict = dict;
    if (!last) dict = block.subarray(block.length - WINDOW);
    // A block deflate cannot shrink (already-compressed files, random data) is stored: deflate would emit stored
    // blocks for it anyway, after a futile search for matches that costs as much as compressing text.
    const job = poolOf().deflate(block, thisDict, level > 0 && looksIncompressible(block) ? 0 : level, last);
    job.catch(() => undefined); // awaited in order below; this only stops an early failure counting as unhandled
    queue.push(job);
  };

  const emitHead = async (stream: Transform): Promise<void> => {
    const head = queue.shift();
    if (head === undefined) return;
    const out = await head;
    if (!headerSent) {
      headerSent = true;
      stream.push(gzipHeader(level));
    }
    stream.push(out);
  };

  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      pending.push(chunk);
      pendingBytes += chunk.length;
      const work = async (): Promise<void> => {
        while (pendingBytes >= blockSize) {
          submit(take(blockSize), false);
          while (queue.length >= maxInFlight()) await emitHead(this);
        }
      };
      work().then(() => cb(), (err: unknown) => cb(err as Error));
    },
    flush(cb: TransformCallback): void {
      const work = async (): Promise<void> => {
        submit(take(pendingBytes), true);
        pending = [];
        while (queue.length > 0) await emitHead(this);
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(crc >>> 0, 0);
        trailer.writeUInt32LE(total % 2 ** 32, 4);
        this.push(trailer);
      };
      work().then(() => cb(), (err: unknown) => cb(err as Error));
    },
    destroy(err: Error | null, cb: (error: Error | null) => void): void {
      queue.length = 0;
      pending = [];
      cb(err);
    },
  });
}
