// gzip on every core, pigz's way: the input is cut into fixed-size blocks, each block is raw-deflated on a worker
// thread with the previous 32 KiB of input as its dictionary and ends in a sync flush (byte-aligned, not final);
// the last block ends in Z_FINISH. The blocks concatenate into ONE deflate stream under one gzip header and trailer
// (CRC-32 and size computed here, in order). Chosen over a gzip member per block because the output is one ordinary
// gzip member, within ~0.1% of zlib's size (the dictionary carries matches across block edges), and an input shorter
// than a block gives byte-for-byte zlib.gzipSync's output.
// Deterministic: the bytes depend only on input, level and block size, never on the worker count or timing.
// Bounded: at most `maxInFlight` blocks are read ahead; the stream's own backpressure does the rest.
// The worker is an eval'd string, not a file, so esbuild bundles of the executor keep working.
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
const WINDOW = 32 * 1024;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', (m) => {
  try {
    const opts = { level: m.level, finishFlush: m.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH };
    if (m.dict.length > 0) opts.dictionary = m.dict;
    const out = zlib.deflateRawSync(m.block, opts);
    // Moved, not copied, when the output owns its memory: each copy is 1 MiB of garbage that this isolate only
    // collects once external memory has grown by tens of MiB (that was most of a layer build's peak RSS).
    const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength;
    const copy = own ? out : new Uint8Array(out);
    // The input block goes back too, for the caller to refill: received blocks would otherwise pile up here as well.
    const back = m.block.byteOffset === 0 && m.block.byteLength === m.block.buffer.byteLength ? [m.block.buffer] : [];
    parentPort.postMessage({ id: m.id, out: copy, block: back.length > 0 ? m.block : undefined }, [copy.buffer, ...back]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

interface Job {
  readonly block: Uint8Array;
  readonly dict: Uint8Array;
  readonly level: number;
  readonly last: boolean;
  readonly resolve: (out: Buffer, block?: Uint8Array) => void;
  readonly reject: (err: Error) => void;
}

interface WorkerReply { readonly id: number; readonly out?: Uint8Array; readonly block?: Uint8Array; readonly error?: string }

/** A fixed set of deflate workers fed from one FIFO. Idle workers are unref'd so they never keep a process alive. */
export class DeflatePool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly waiting: Job[] = [];
  private started = 0;
  private nextId = 0;

  readonly size: number;

  constructor(size: number) {
    this.size = size;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`DeflatePool size must be ≥ 1, got ${size}`);
  }

  /** `recycle` receives the input block back from the worker (when it was moved there), for reuse. */
  deflate(block: Uint8Array, dict: Uint8Array, level: number, last: boolean, recycle?: (block: Uint8Array) => void): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.push({ block, dict, level, last, reject, resolve: (out, back) => { if (back !== undefined) recycle?.(back); resolve(out); } });
      this.pump();
    });
  }

  /** Stops every worker (pending jobs fail). */
  async close(): Promise<void> {
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    for (const job of this.waiting.splice(0)) job.reject(new Error('deflate pool closed'));
    await Promise.all(all.map((w) => w.terminate()));
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      let worker = this.idle.pop();
      if (worker === undefined && this.started < this.size) worker = this.spawn();
      if (worker === undefined) return;
      const job = this.waiting.shift();
      if (job === undefined) { this.idle.push(worker); return; }
      this.busy.set(worker, job);
      worker.ref();
      // The block is ours alone (a fresh buffer from the caller), so it moves rather than copies when it can.
      const movable = job.block.byteOffset === 0 && job.block.byteLength === job.block.buffer.byteLength && job.block.buffer instanceof ArrayBuffer;
      worker.postMessage({ id: this.nextId++, block: job.block, dict: job.dict, level: job.level, last: job.last },
        movable ? [job.block.buffer as ArrayBuffer] : []);
    }
  }

  private spawn(): Worker {
    this.started++;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', (reply: WorkerReply) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if (job !== undefined) {
        if (reply.out !== undefined) job.resolve(Buffer.from(reply.out.buffer, reply.out.byteOffset, reply.out.byteLength), reply.block);
        else job.reject(new Error(`deflate worker: ${reply.error ?? 'no output'}`));
      }
      this.pump();
    });
    worker.on('error', (err) => {
      // A dead worker is dropped; its job fails and a replacement may be started for the rest.
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      this.started--;
      job?.reject(err);
      this.pump();
    });
    return worker;
  }
}

let shared: DeflatePool | undefined;
/** One pool per process, sized to the cores this process may use. */
export function sharedDeflatePool(): DeflatePool {
  shared ??= new DeflatePool(Math.max(1, availableParallelism()));
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
  let submitted = 0;
  const queue: Promise<Buffer>[] = [];
  let headerSent = false;

  // Full-size blocks come back from the workers and are refilled: a fresh 1 MiB per block is garbage that each
  // thread only collects late (two workers' worth of it was ~200 MiB of a build's peak RSS).
  const free: Buffer[] = [];
  const recycle = (b: Uint8Array): void => { if (b.byteLength === blockSize && free.length < 8) free.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength)); };
  const take = (n: number): Buffer => {
    // A fresh, unpooled buffer (allocUnsafeSlow) so it can be moved to a worker without a copy.
    const block = (n === blockSize ? free.pop() : undefined) ?? Buffer.allocUnsafeSlow(n);
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
    // Copied: the block itself is moved to a worker and detached here.
    if (!last) dict = Uint8Array.prototype.slice.call(block, block.length - WINDOW);
    let job: Promise<Buffer>;
    if (last && submitted === 0) {
      // A one-block stream is compressed here (no worker start-up); the bytes are the same either way.
      job = new Promise<Buffer>((resolve, reject) => zlib.deflateRaw(block, { level }, (err, out) => (err === null ? resolve(out) : reject(err))));
    } else {
      job = poolOf().deflate(block, thisDict, level, last, recycle);
    }
    submitted++;
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
