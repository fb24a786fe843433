import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { sha256Of } from './digest.ts';
import { emptyImage } from './empty.ts';
import type { Layer } from './image.ts';
import { layerFromTarFile } from './layer.ts';
import { appendLayers, formatGoTime, withConfigFile, withCreatedAt, withHistory, withManifestMediaType } from './mutate.ts';
import { parseConfigFile, parseJson } from './parse.ts';
import { writeTarFixture } from './tar-fixture.ts';
import { MediaTypes } from './types.ts';
import { validateImage } from './validate.ts';

let dir = '';
let l1: Layer;
let l2: Layer;
const platform = { os: 'linux', architecture: 'arm', variant: 'v7' };
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-mutate-'));
  await writeTarFixture(path.join(dir, 'a.tar'), [{ name: 'a', content: 'A' }]);
  await writeTarFixture(path.join(dir, 'b.tar'), [{ name: 'b', content: 'B' }]);
  l1 = await layerFromTarFile(path.join(dir, 'a.tar'), { workDir: dir });
  l2 = await layerFromTarFile(path.join(dir, 'b.tar'), { workDir: dir });
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

test('emptyImage is a valid zero-layer docker image for the platform', async () => {
  const img = emptyImage(platform);
  await validateImage(img);
  assert.equal(await img.mediaType(), MediaTypes.dockerManifest);
  const cfg = await img.configFile();
  assert.equal(cfg.architecture, 'arm');
  assert.equal(cfg.variant, 'v7');
  assert.deepEqual(cfg.rootfs, { type: 'layers', diff_ids: [] });
  assert.equal((await img.manifest()).config.mediaType, MediaTypes.dockerConfig);
  assert.equal(await img.digest(), sha256Of(await img.rawManifest()));
});

test('appendLayers + validateImage; base unchanged; digest deterministic', async () => {
  const base = emptyImage(platform);
  const one = appendLayers(base, { layer: l1, history: { created_by: 'RUN a' } });
  const two = appendLayers(one, { layer: l2 });
  await validateImage(one);
  await validateImage(two);
  assert.equal((await base.layers()).length, 0);
  const cfg = await two.configFile();
  assert.deepEqual(cfg.rootfs.diff_ids, [await l1.diffId(), await l2.diffId()]);
  assert.equal(cfg.history?.length, 2);
  assert.equal(cfg.history?.[0]?.created_by, 'RUN a');
  const m = await two.manifest();
  assert.deepEqual(m.layers.map((l) => l.digest), [await l1.digest(), await l2.digest()]);
  assert.equal(await two.layerByDigest(await l2.digest()), l2);
  await assert.rejects(two.layerByDigest(sha256Of('nope')), BuildError);
  const again = appendLayers(appendLayers(emptyImage(platform), { layer: l1, history: { created_by: 'RUN a' } }), { layer: l2 });
  assert.equal(await again.digest(), await two.digest());
  assert.deepEqual(await again.rawManifest(), await two.rawManifest());
  const keys = Object.keys(parseJson(await two.rawManifest(), 'm') as object);
  assert.deepEqual(keys, ['schemaVersion', 'mediaType', 'config', 'layers']);
});

test('withHistory, withCreatedAt, withConfigFile keep layers and extra fields', async () => {
  const img = withCreatedAt(withHistory(appendLayers(emptyImage(platform), { layer: l1 }), { created_by: 'ENV a=b' }), new Date(0));
  await validateImage(img);
  const cfg = await img.configFile();
  assert.equal(cfg.created, '1970-01-01T00:00:00Z');
  assert.deepEqual(cfg.history?.[1], { created_by: 'ENV a=b', empty_layer: true });
  const extra = parseConfigFile({ ...JSON.parse(JSON.stringify(cfg)) as object, docker_version: '1' }, 'c');
  const replaced = withConfigFile(img, extra);
  await validateImage(replaced);
  assert.match(new TextDecoder().decode(await replaced.rawConfigFile()), /"docker_version":"1"/);
  assert.equal(formatGoTime(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 120))), '2024-01-02T03:04:05.12Z');
});

test('withManifestMediaType converts docker <-> oci and stays valid', async () => {
  const docker = appendLayers(emptyImage(platform), { layer: l1 });
  const oci = withManifestMediaType(docker, 'oci');
  await validateImage(oci);
  const m = await oci.manifest();
  assert.equal(m.mediaType, MediaTypes.ociManifest);
  assert.equal(m.config.mediaType, MediaTypes.ociConfig);
  assert.equal(m.layers[0]?.mediaType, MediaTypes.ociLayerGzip);
  assert.equal(m.layers[0]?.digest, await l1.digest());
  const back = withManifestMediaType(oci, 'docker');
  await validateImage(back);
  assert.equal(await back.digest(), await docker.digest());
});

test('validateImage catches a diffId that does not match the layer', async () => {
  const bad = withConfigFile(appendLayers(emptyImage(platform), { layer: l1 }),
    { ...(await emptyImage(platform).configFile()), rootfs: { type: 'layers', diff_ids: [await l2.diffId()] } });
  await assert.rejects(validateImage(bad), (e: unknown) => e instanceof BuildError && e.code === 'DIGEST_MISMATCH');
});
