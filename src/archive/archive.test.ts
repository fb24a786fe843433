import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import { emptyImage } from '../oci/empty.ts';
import type { Image } from '../oci/image.ts';
import { layerFromTarFile } from '../oci/layer.ts';
import { appendLayers, withManifestMediaType } from '../oci/mutate.ts';
import { writeTarFixture } from '../oci/tar-fixture.ts';
import { validateImage } from '../oci/validate.ts';
import { readDockerTarball, writeDockerTarball } from './docker-tarball.ts';
import { readOciLayout, writeOciLayout } from './oci-layout.ts';

let dir = '';
let img: Image;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'archive-'));
  await writeTarFixture(path.join(dir, 'a.tar'), [{ name: 'etc/', type: 'directory' }, { name: 'etc/a', content: 'A'.repeat(5000) }]);
  await writeTarFixture(path.join(dir, 'b.tar'), [{ name: 'b', content: 'B' }]);
  const a = await layerFromTarFile(path.join(dir, 'a.tar'), { workDir: dir });
  const b = await layerFromTarFile(path.join(dir, 'b.tar'), { workDir: dir });
  img = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), { layer: a, history: { created_by: 'a' } }, { layer: b });
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 60_000 });
}

test('docker tarball is accepted by skopeo (tags, layers, config)', async () => {
  const file = path.join(dir, 'image.tar');
  // The same image twice under different tags: layers and config are written once.
  await writeDockerTarball(file, [{ tags: ['example.com/app:1'], image: img }, { tags: ['example.com/app:2'], image: img }]);
  const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
  const m = await img.manifest();
  assert.deepEqual(names.sort(), [m.config.digest, ...m.layers.map((l) => `${l.digest.slice(7)}.tar.gz`), 'manifest.json'].sort());
  const manifestJson = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' })) as unknown;
  assert.deepEqual(manifestJson, [1, 2].map((n) => ({
    Config: m.config.digest, RepoTags: [`example.com/app:${n}`], Layers: m.layers.map((l) => `${l.digest.slice(7)}.tar.gz`),
  })));
  const info = JSON.parse(skopeo('inspect', `docker-archive:${file}:example.com/app:1`)) as { Layers: string[]; Architecture: string };
  assert.equal(info.Architecture, 'amd64');
  assert.equal(info.Layers.length, 2);
  const out = path.join(dir, 'from-tarball');
  skopeo('copy', `docker-archive:${file}:example.com/app:2`, `dir:${out}`);
  const cfg = JSON.parse(skopeo('inspect', '--config', `dir:${out}`)) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(cfg.rootfs.diff_ids, (await img.configFile()).rootfs.diff_ids);
});

test('docker tarball write failure removes the partial file', async () => {
  const file = path.join(dir, 'broken.tar');
  const [good] = await img.layers();
  assert.ok(good);
  // A layer whose stream fails half-way, as a broken registry connection would.
  const failing = { ...good, compressed: async () => Readable.from((async function* () {
    yield Buffer.from('partial');
    throw new Error('connection reset');
  })()) };
  const broken: Image = { ...img, layers: async () => [failing, good] };
  await assert.rejects(writeDockerTarball(file, [{ tags: [], image: broken }]), BuildError);
  await assert.rejects(readFile(file), /ENOENT/);
});

test('OCI layout: skopeo inspects and copies it; reading it back gives the same image', async () => {
  const layout = path.join(dir, 'layout');
  const oci = withManifestMediaType(img, 'oci');
  const digest = await writeOciLayout(layout, oci, { refName: 'latest' });
  assert.equal(digest, await oci.digest());
  const blobs = await readdir(path.join(layout, 'blobs', 'sha256'));
  assert.equal(blobs.length, 4, 'manifest, config and two layers');
  const info = JSON.parse(skopeo('inspect', `oci:${layout}`)) as { Digest: string; Layers: string[] };
  assert.equal(info.Digest, digest);
  assert.equal(info.Layers.length, 2);
  const out = path.join(dir, 'copied');
  skopeo('copy', `oci:${layout}:latest`, `dir:${out}`); // skopeo verifies every blob's digest
  const back = await readOciLayout(layout);
  await validateImage(back);
  assert.equal(await back.digest(), digest);
  assert.deepEqual(Buffer.from(await back.rawConfigFile()), Buffer.from(await oci.rawConfigFile()));
  // Writing again skips present blobs and replaces index.json with just this image.
  const docker = await writeOciLayout(layout, img);
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  assert.deepEqual(index.manifests.map((d) => d.digest), [docker]);
  assert.equal(await (await readOciLayout(layout, { digest: docker })).digest(), docker);
  await assert.rejects(readOciLayout(layout, { digest }), /has no manifest/);
  // Named contexts (oci-layout://): a blob index.json does not list, an entry by name, a platform in an index.
  assert.equal(await (await readOciLayout(layout, { digest, unlisted: true })).digest(), digest);
  await writeOciLayout(layout, oci, { refName: 'v2' });
  assert.equal(await (await readOciLayout(layout, { refName: 'v2' })).digest(), digest);
  await assert.rejects(readOciLayout(layout, { refName: 'v3' }), /has no manifest named "v3"/);
});

test('OCI layout read detects a corrupt layer blob', async () => {
  const layout = path.join(dir, 'corrupt');
  await writeOciLayout(layout, img);
  const m = await img.manifest();
  const first = m.layers[0];
  assert.ok(first);
  const p = path.join(layout, 'blobs', 'sha256', first.digest.slice(7));
  const bytes = await readFile(p);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
  await writeFile(p, bytes);
  const back = await readOciLayout(layout);
  await assert.rejects(validateImage(back), (e: unknown) => e instanceof BuildError && e.code === 'DIGEST_MISMATCH');
  await assert.rejects(readOciLayout(path.join(dir, 'nowhere')), /index.json/);
});

test('readDockerTarball: our own tarball reads back as the same image', async () => {
  const file = path.join(dir, 'roundtrip.tar');
  await writeDockerTarball(file, [{ tags: ['a:1'], image: img }, { tags: ['a:2'], image: emptyImage({ os: 'linux', architecture: 'arm64' }) }]);
  const back = await readDockerTarball(file);
  await validateImage(back);
  assert.equal(await back.digest(), await img.digest());
  const second = await readDockerTarball(file, { tag: 'a:2' });
  assert.equal((await second.configFile()).architecture, 'arm64');
  await assert.rejects(readDockerTarball(file, { tag: 'a:3' }), /no image tagged a:3/);
});

test('readDockerTarball: skopeo-written archive with uncompressed layers', async () => {
  const layout = path.join(dir, 'for-skopeo');
  await writeOciLayout(layout, withManifestMediaType(img, 'oci'), { refName: 'x' });
  const file = path.join(dir, 'skopeo.tar');
  skopeo('copy', `oci:${layout}:x`, `docker-archive:${file}:example.com/x:1`);
  const back = await readDockerTarball(file);
  await validateImage(back);
  assert.deepEqual((await back.configFile()).rootfs.diff_ids, (await img.configFile()).rootfs.diff_ids);
  await assert.rejects(readDockerTarball(path.join(dir, 'a.tar')), /no "manifest.json"/);
});
