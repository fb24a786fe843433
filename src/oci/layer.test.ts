import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseDigest } from './digest.ts';
import { digestReadable, layerFromCompressedFile, layerFromOpener, layerFromTarFile } from './layer.ts';
import { writeTarFixture } from './tar-fixture.ts';
import { MediaTypes } from './types.ts';

let dir = '';
let tarPath = '';
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-layer-'));
  tarPath = path.join(dir, 'layer.tar');
  await writeTarFixture(tarPath, [{ name: 'etc/', type: 'directory' }, { name: 'etc/hello', content: 'hello\n'.repeat(1000) }]);
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

function sha256sum(file: string): string {
  return 'sha256:' + execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
}

test('layerFromTarFile (gzip): digests match sha256sum of the files on disk', async () => {
  const work = await mkdtemp(path.join(dir, 'w-'));
  const layer = await layerFromTarFile(tarPath, { workDir: work });
  const files = await readdir(work);
  assert.equal(files.length, 1);
  const gz = path.join(work, files[0] ?? '');
  assert.equal(await layer.mediaType(), MediaTypes.dockerLayerGzip);
  assert.equal(await layer.diffId(), sha256sum(tarPath));
  assert.equal(await layer.digest(), sha256sum(gz));
  assert.equal(await layer.size(), Number(execFileSync('stat', ['-c', '%s', gz], { encoding: 'utf8' }).trim()));
  // gzip -t proves the file is a valid gzip stream; gunzip output must equal the tar.
  execFileSync('gzip', ['-t', gz]);
  assert.equal('sha256:' + execFileSync('sh', ['-c', `gunzip -c '${gz}' | sha256sum`], { encoding: 'utf8' }).split(' ')[0], sha256sum(tarPath));
  // Fresh streams on every call.
  for (let i = 0; i < 2; i++) {
    assert.equal((await digestReadable(await layer.compressed())).digest, await layer.digest());
    assert.equal((await digestReadable(await layer.uncompressed())).digest, await layer.diffId());
  }
});

test('layerFromTarFile (zstd, level): decompresses back to the tar', async () => {
  const work = await mkdtemp(path.join(dir, 'w-'));
  const layer = await layerFromTarFile(tarPath, { workDir: work, compression: 'zstd', level: 3 });
  assert.equal(await layer.mediaType(), MediaTypes.ociLayerZstd);
  const zst = path.join(work, (await readdir(work))[0] ?? '');
  assert.equal(await layer.digest(), sha256sum(zst));
  const opened = layerFromCompressedFile(zst, { digest: await layer.digest(), size: await layer.size(), mediaType: MediaTypes.ociLayerZstd });
  assert.equal(await opened.diffId(), sha256sum(tarPath), 'diffId computed by decompressing');
});

test('layerFromTarFile gzip level changes the output but not the diffId', async () => {
  const a = await layerFromTarFile(tarPath, { workDir: await mkdtemp(path.join(dir, 'w-')), level: 1 });
  const b = await layerFromTarFile(tarPath, { workDir: await mkdtemp(path.join(dir, 'w-')), level: 9 });
  assert.equal(await a.diffId(), await b.diffId());
});

test('layerFromOpener: plain tar media type passes through; diffId memoised', async () => {
  let opens = 0;
  const layer = layerFromOpener(async () => { opens++; return createReadStream(tarPath); },
    { digest: parseDigest(sha256sum(tarPath)), size: 0, mediaType: MediaTypes.ociLayer });
  assert.equal(await layer.diffId(), sha256sum(tarPath));
  assert.equal(await layer.diffId(), sha256sum(tarPath));
  assert.equal(opens, 1);
});

test('layerFromCompressedFile: missing file rejects; corrupt gzip errors the uncompressed stream', async () => {
  const missing = layerFromCompressedFile(path.join(dir, 'nope'), { digest: parseDigest(sha256sum(tarPath)), size: 1, mediaType: MediaTypes.ociLayerGzip });
  await assert.rejects(missing.compressed(), /ENOENT/);
  const bad = path.join(dir, 'bad.gz');
  await writeFile(bad, zlib.gzipSync(Buffer.from('x')).subarray(0, 8));
  const corrupt = layerFromCompressedFile(bad, { digest: parseDigest(sha256sum(bad)), size: 8, mediaType: MediaTypes.ociLayerGzip });
  await assert.rejects(corrupt.diffId());
});
