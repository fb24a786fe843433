// Layer compression throughput: zlib's single-threaded gzip next to our parallel gzip (src/oci/parallel-gzip.ts) at the
// same level, and zstd without vs with libzstd's threads. Prints medians over alternated runs; asserts nothing.
// The input is generated (seeded, so every run and machine compresses the same bytes): log-like text with hex ids,
// mixed with incompressible runs, compressing about 3:1 at level 6 — in the range of real layer tars.
// Usage: node bench/compress.ts [--size MiB=64] [--level 1 (the executor's default)] [--runs 5] [--workers N]
import { availableParallelism } from 'node:os';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { createParallelGzip, DeflatePool } from '../src/oci/parallel-gzip.ts';
import { median } from './median.ts';

const { values } = parseArgs({ options: {
  size: { type: 'string', default: '64' }, level: { type: 'string', default: '1' },
  runs: { type: 'string', default: '5' }, workers: { type: 'string', default: String(availableParallelism()) },
} });
const size = Number(values.size) * 1024 * 1024;
const level = Number(values.level);
const runs = Number(values.runs);
const workers = Number(values.workers);

function generate(bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let seed = 0x2545f491;
  const rand = (): number => {
    // xorshift32: cheap, deterministic
    seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
    return seed;
  };
  const words = ['usr', 'lib', 'share', 'x86_64-linux-gnu', 'python3', 'site-packages', 'locale', 'doc', 'include', 'bin'];
  let at = 0;
  while (at < bytes) {
    if (rand() % 1000 === 0) {
      // an incompressible run (think: an already-compressed file inside the tar)
      const n = Math.min(bytes - at, 4096 + (rand() % 16384));
      for (let i = 0; i < n; i += 4) out.writeUInt32LE(rand(), Math.min(at + i, bytes - 4));
      at += n;
    } else {
      const line = `/${words[rand() % 10]}/${words[rand() % 10]}/${(rand() % 100000).toString(16)} ${rand().toString(16)} size=${rand() % 65536}\n`;
      at += out.write(line, at);
    }
  }
  return out;
}

async function measure(input: Buffer, make: () => Transform): Promise<{ ms: number; bytes: number }> {
  let bytes = 0;
  const t0 = performance.now();
  // 64 KiB chunks: what a file read stream hands the compressor.
  await pipeline(Readable.from((function* () {
    for (let i = 0; i < input.length; i += 65536) yield input.subarray(i, i + 65536);
  })()), make(), new Writable({ write(chunk: Buffer, _enc, cb): void { bytes += chunk.length; cb(); } }));
  return { ms: performance.now() - t0, bytes };
}

const input = generate(size);
const pool = new DeflatePool(workers);
const zstd = (n: number) => () => zlib.createZstdCompress({ params: {
  [zlib.constants.ZSTD_c_compressionLevel]: 3, [zlib.constants.ZSTD_c_nbWorkers]: n,
} });
const cases: ReadonlyArray<readonly [string, () => Transform]> = [
  [`gzip -${level}, zlib single thread`, () => zlib.createGzip({ level })],
  [`gzip -${level}, parallel, ${workers} at once`, () => createParallelGzip({ level, pool })],
  ['zstd -3, no threads', zstd(0)],
  [`zstd -3, ${workers} workers`, zstd(workers)],
];
// Warm-up (JIT, thread pool start-up) is not what is measured.
await measure(input.subarray(0, 4 * 1024 * 1024), () => createParallelGzip({ level, pool }));
const times = new Map<string, number[]>();
const sizes = new Map<string, number>();
for (let r = 0; r < runs; r++) {
  // Alternated so a burst of load from elsewhere hits every case alike.
  for (const [name, make] of cases) {
    // libzstd's threads inside Node's zstd stream can end the stream early (ERR_STREAM_PUSH_AFTER_EOF, seen here on
    // Node 24.22; nodejs/node#59899): a failed case is reported, not fatal.
    const m = await measure(input, make).catch((err: unknown) => {
      process.stderr.write(`run ${r + 1}/${runs} ${name}: failed: ${(err as Error).message}\n`);
      return undefined;
    });
    if (m === undefined) continue;
    times.set(name, [...(times.get(name) ?? []), m.ms]);
    sizes.set(name, m.bytes);
    process.stderr.write(`run ${r + 1}/${runs} ${name}: ${m.ms.toFixed(0)} ms\n`);
  }
}
await pool.close();

const mbs = (ms: number): number => size / 1024 / 1024 / (ms / 1000);
console.log(`input ${values.size} MiB, ${runs} runs, ${availableParallelism()} cores available; medians`);
console.log(`${'case'.padEnd(36)} ${'MiB/s'.padStart(8)} ${'out MiB'.padStart(8)} ${'ratio'.padStart(6)}`);
for (const [name] of cases) {
  const ms = median(times.get(name) ?? []);
  const out = sizes.get(name) ?? 0;
  if ((times.get(name) ?? []).length === 0) { console.log(`${name.padEnd(36)} failed every run (see above)`); continue; }
  console.log(`${name.padEnd(36)} ${mbs(ms).toFixed(1).padStart(8)} ${(out / 1024 / 1024).toFixed(2).padStart(8)} ${(size / out).toFixed(2).padStart(6)}`);
}
const gz1 = median(times.get(cases[0]?.[0] ?? '') ?? []);
const gzN = median(times.get(cases[1]?.[0] ?? '') ?? []);
const z1 = median(times.get(cases[2]?.[0] ?? '') ?? []);
const zN = median(times.get(cases[3]?.[0] ?? '') ?? []);
console.log(`parallel gzip speed-up: ${(gz1 / gzN).toFixed(2)}× (target ≥ 1.7× on 2 cores); zstd: ${Number.isFinite(z1 / zN) ? `${(z1 / zN).toFixed(2)}×` : 'threads failed'}`);
