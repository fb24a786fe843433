import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { pino } from 'pino';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { BuildError } from '../errors.ts';
import { detectCompression, extractContextArchive } from './archive.ts';

const log = pino({ level: 'silent' });

type Item = Partial<Header> & { name: string; body?: string };

async function makeTar(items: readonly Item[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve, reject) => { pack.on('end', resolve); pack.on('error', reject); });
  for (const { body, ...header } of items) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sample: readonly Item[] = [
  { name: 'dir/', type: 'directory', mode: 0o750, mtime: new Date(1_000_000_000_000) },
  { name: 'dir/a.txt', body: 'hello', mode: 0o640, mtime: new Date(1_000_000_000_000) },
  { name: './run.sh', body: '#!/bin/sh\n', mode: 0o755 },
  { name: 'link', type: 'symlink', linkname: '/etc/passwd' },
  { name: 'hard', type: 'link', linkname: 'dir/a.txt' },
  { name: 'deep/er/file', body: 'x' },
];

function isContextError(...texts: string[]) {
  return (e: unknown) => e instanceof BuildError && e.code === 'CONTEXT' && texts.every((t) => e.message.includes(t));
}

describe('extractContextArchive', () => {
  let tmp = '';
  let n = 0;
  before(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'ctx-archive-')); });
  after(async () => { await rm(tmp, { recursive: true, force: true }); });
  const fresh = (): string => path.join(tmp, `d${(n += 1)}`, 'ctx');

  async function checkSample(dest: string): Promise<void> {
    assert.equal(await readFile(path.join(dest, 'dir/a.txt'), 'utf8'), 'hello');
    assert.equal((await stat(path.join(dest, 'dir/a.txt'))).mode & 0o777, 0o640);
    assert.equal((await stat(path.join(dest, 'run.sh'))).mode & 0o777, 0o755);
    assert.equal((await stat(path.join(dest, 'dir'))).mode & 0o777, 0o750);
    assert.equal((await stat(path.join(dest, 'dir'))).mtimeMs, 1_000_000_000_000);
    assert.equal((await lstat(path.join(dest, 'link'))).isSymbolicLink(), true);
    assert.equal(await readlink(path.join(dest, 'link')), '/etc/passwd');
    assert.equal((await stat(path.join(dest, 'hard'))).ino, (await stat(path.join(dest, 'dir/a.txt'))).ino);
    assert.equal(await readFile(path.join(dest, 'deep/er/file'), 'utf8'), 'x');
  }

  for (const [kind, wrap] of [
    ['plain', (b: Buffer) => b],
    ['gzip', (b: Buffer) => gzipSync(b)],
    ['zstd', (b: Buffer) => zstdCompressSync(b)],
  ] as const) {
    it(`unpacks a ${kind} tar with modes, mtimes, symlinks and hardlinks`, async () => {
      const data = wrap(await makeTar(sample));
      const dest = fresh();
      // Small chunks: the magic-byte sniffing must work across chunk boundaries.
      const chunks = [];
      for (let i = 0; i < data.length; i += 3) chunks.push(data.subarray(i, i + 3));
      const res = await extractContextArchive(Readable.from(chunks), dest, { source: 'tar://x', log });
      assert.equal(res.entries, sample.length);
      assert.equal(res.bytes, 'hello'.length + '#!/bin/sh\n'.length + 1);
      await checkSample(dest);
    });
  }

  it('sniffs magic bytes', () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8])), 'gzip');
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
    assert.equal(detectCompression(Buffer.from('abc')), 'none');
  });

  it('refuses ../ entries and writes nothing outside', async () => {
    const dest = fresh();
    const data = gzipSync(await makeTar([{ name: 'ok', body: '1' }, { name: '../escape', body: 'bad' }]));
    await assert.rejects(extractContextArchive(Readable.from([data]), dest, { source: 'tar://evil.tgz', log }),
      isContextError('tar://evil.tgz', 'tar entry "../escape" would leave the context directory'));
    assert.deepEqual(await readdir(path.dirname(dest)), ['ctx']);
  });

  it('refuses /../ and a hardlink to outside', async () => {
    await assert.rejects(extractContextArchive(Readable.from([await makeTar([{ name: '/a/../../x', body: '' }])]), fresh(), { source: 's', log }),
      isContextError('would leave the context directory'));
    await assert.rejects(extractContextArchive(Readable.from([await makeTar([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }])]), fresh(), { source: 's', log }),
      isContextError('would leave the context directory'));
  });

  it('keeps absolute names and writes through symlinks only inside the context', async () => {
    const dest = fresh();
    await extractContextArchive(Readable.from([await makeTar([
      { name: '/abs/file', body: 'a' },
      { name: 'up', type: 'symlink', linkname: '../../../..' },
      { name: 'up/through', body: 'b' },
      { name: 'root', type: 'symlink', linkname: '/' },
      { name: 'root/viaroot', body: 'c' },
    ])]), dest, { source: 's', log });
    assert.equal(await readFile(path.join(dest, 'abs/file'), 'utf8'), 'a');
    assert.equal(await readFile(path.join(dest, 'through'), 'utf8'), 'b');
    assert.equal(await readFile(path.join(dest, 'viaroot'), 'utf8'), 'c');
    assert.deepEqual((await readdir(path.dirname(dest))).sort(), ['ctx']);
  });

  it('a corrupt gzip is one CONTEXT error naming the source', async () => {
    const good = gzipSync(await makeTar(sample));
    const bad = Buffer.concat([good.subarray(0, 10), Buffer.alloc(64, 0xff), good.subarray(74)]);
    await assert.rejects(extractContextArchive(Readable.from([bad]), fresh(), { source: 'https://h/ctx.tgz', log }),
      isContextError('https://h/ctx.tgz', 'corrupt gzip'));
    await assert.rejects(extractContextArchive(Readable.from([good.subarray(0, good.length - 20)]), fresh(), { source: 'x', log }),
      isContextError('corrupt gzip'));
  });

  it('data that is not a tar is corrupt tar data', async () => {
    await assert.rejects(extractContextArchive(Readable.from([Buffer.alloc(1024, 0x41)]), fresh(), { source: 'x', log }),
      isContextError('x: corrupt tar data'));
  });

  it('an empty stream is an empty context', async () => {
    const res = await extractContextArchive(Readable.from([]), fresh(), { source: 'x', log });
    assert.deepEqual(res, { entries: 0, bytes: 0 });
  });

  it('a read error of the source is reported', async () => {
    const failing = new Readable({ read() { this.destroy(new Error('connection reset')); } });
    await assert.rejects(extractContextArchive(failing, fresh(), { source: 'x', log }), isContextError('connection reset'));
  });

  it('an aborted signal stops extraction', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(extractContextArchive(Readable.from([await makeTar(sample)]), fresh(), { source: 'x', log, signal: ac.signal }),
      isContextError('aborted'));
  });
});
