import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { createLayerCompressor, layerFromTarFile } from './layer.ts';
import { createParallelGzip, DeflatePool, looksIncompressible } from './parallel-gzip.ts';

let dir = '';
const pool1 = new DeflatePool(1);
const pool3 = new DeflatePool(3);
before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'parallel-gzip-')); });
after(async () => {
  await Promise.all([pool1.close(), pool3.close()]);
  await rm(dir, { recursive: true, force: true });
});

/** Deterministic mixed content: text lines with pseudo-random runs, so blocks both compress and carry matches. */
function sample(bytes: number, seed = 7): Buffer {
  const out = Buffer.alloc(bytes);
  let s = seed;
  let at = 0;
  while (at < bytes) {
    s = (s * 1103515245 + 12345) >>> 0;
    if (s % 50 === 0) {
      for (let i = 0; i < 3000 && at < bytes; i++) { s = (s * 1103515245 + 12345) >>> 0; out[at++] = s >>> 24; }
    } else {
      at += out.write(`/usr/share/doc/pkg-${s % 977}/changelog line ${s % 31}\n`, at);
    }
  }
  return out;
}

async function compress(input: Buffer, make: () => Transform, chunk = 65536): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from((function* () {
    for (let i = 0; i < input.length; i += chunk) yield input.subarray(i, i + chunk);
  })()), make(), new Writable({ write(c: Buffer, _e, cb): void { parts.push(c); cb(); } }));
  return Buffer.concat(parts);
}

test('one block: byte-for-byte what zlib.gzipSync writes, at every level', async () => {
  for (const input of [Buffer.alloc(0), Buffer.from('hello\n'), sample(200_000)]) {
    for (const level of [1, 6, 9]) {
      assert.deepEqual(await compress(input, () => createParallelGzip({ level, pool: pool3 })), zlib.gzipSync(input, { level }), `level ${level}, ${input.length} bytes`);
    }
  }
});

test('many blocks: one valid gzip member that gunzips to the input, close to zlib in size', async () => {
  const input = sample(3 * 1024 * 1024 + 12345);
  const out = await compress(input, () => createParallelGzip({ blockSize: 128 * 1024, pool: pool3 }), 10_000);
  assert.deepEqual(zlib.gunzipSync(out), input);
  const file = path.join(dir, 'many.gz');
  await writeFile(file, out);
  execFileSync('gzip', ['-t', file]);
  const zcat = execFileSync('sh', ['-c', `zcat '${file}' | sha256sum`], { encoding: 'utf8' }).split(' ')[0];
  assert.equal(zcat, createHash('sha256').update(input).digest('hex'));
  // The dictionary carries matches across block edges: within 1% of single-threaded zlib.
  assert.ok(out.length < zlib.gzipSync(input).length * 1.01, `${out.length} vs ${zlib.gzipSync(input).length}`);
});

test('deterministic: the same bytes whatever the concurrency, read-ahead or input chunking', async () => {
  const input = sample(1024 * 1024 + 1);
  const a = await compress(input, () => createParallelGzip({ blockSize: 64 * 1024, pool: pool1, maxInFlight: 1 }), 4096);
  const b = await compress(input, () => createParallelGzip({ blockSize: 64 * 1024, pool: pool3, maxInFlight: 9 }), 100_003);
  assert.deepEqual(a, b);
  // An input that is an exact multiple of the block size ends with an empty final block.
  const exact = sample(4 * 64 * 1024);
  assert.deepEqual(zlib.gunzipSync(await compress(exact, () => createParallelGzip({ blockSize: 64 * 1024, pool: pool3 }))), exact);
});

test('errors: a bad level is refused up front; a failing deflate job errors the stream', async () => {
  assert.throws(() => createParallelGzip({ level: 12 }), /level/);
  assert.throws(() => createParallelGzip({ blockSize: 1000 }), /block size/);
  // A level only zlib rejects: submit to the pool directly.
  await assert.rejects(pool1.deflate(new Uint8Array(10), new Uint8Array(0), 42, false), /deflate/);
});

test('zstd: the same bytes with 1 or 3 threads, and decompresses back', async () => {
  const input = sample(6 * 1024 * 1024);
  const a = await compress(input, () => createLayerCompressor('zstd', { zstdWorkers: 1 }));
  const b = await compress(input, () => createLayerCompressor('zstd', { zstdWorkers: 3, level: 3 }));
  assert.deepEqual(a, b);
  assert.deepEqual(zlib.zstdDecompressSync(a), input);
});

test('64 MiB layer: digests right, RSS stays bounded (no whole-layer buffering)', async () => {
  const tarPath = path.join(dir, 'big.tar');
  const hash = createHash('sha256');
  const block = sample(1024 * 1024, 11);
  await pipeline(Readable.from((function* () {
    for (let i = 0; i < 64; i++) {
      block[0] = i; // each MiB differs, so nothing is a trivial repeat
      hash.update(block);
      yield Buffer.from(block);
    }
  })()), createWriteStream(tarPath));
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  const work = await mkdtemp(path.join(dir, 'w-'));
  const layer = await layerFromTarFile(tarPath, { workDir: work, pool: pool3 });
  clearInterval(timer);
  assert.equal(await layer.diffId(), `sha256:${hash.digest('hex')}`);
  const gz = path.join(work, (await readdir(work))[0] ?? '');
  assert.equal(await layer.digest(), 'sha256:' + execFileSync('sha256sum', [gz], { encoding: 'utf8' }).split(' ')[0]);
  execFileSync('gzip', ['-t', gz]);
  // In flight: (3 running + 2) blocks of 1 MiB in and out, plus stream buffers; 64 MiB of layer must not show up.
  assert.ok(peak - rssBefore < 48 * 1024 * 1024, `RSS grew by ${((peak - rssBefore) / 1048576).toFixed(1)} MiB`);
});

test('incompressible blocks are stored: valid gzip, no bigger than zlib would make it, the same bytes every time', async () => {
  const random = randomBytes(3 * 1024 * 1024 + 5);
  assert.equal(looksIncompressible(random.subarray(0, 1024 * 1024)), true);
  assert.equal(looksIncompressible(sample(1024 * 1024)), false);
  const a = await compress(random, () => createParallelGzip({ level: 1, pool: pool3 }), 65536);
  const b = await compress(random, () => createParallelGzip({ level: 1, pool: pool1 }), 100_003);
  assert.deepEqual(a, b);
  assert.deepEqual(zlib.gunzipSync(a), random);
  assert.ok(a.length <= zlib.gzipSync(random, { level: 1 }).length + 64, `${a.length} vs zlib ${zlib.gzipSync(random, { level: 1 }).length}`);
});
