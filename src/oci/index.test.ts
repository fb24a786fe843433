import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annotationsFor, parseAnnotation } from './annotations.ts';
import { sha256Of } from './digest.ts';
import { emptyImage } from './empty.ts';
import { imageIndex } from './index.ts';
import { withManifestAnnotations } from './mutate.ts';
import { parseJson } from './parse.ts';
import { parsePlatformList } from './platform.ts';
import { MediaTypes } from './types.ts';

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

test('imageIndex lists one descriptor per platform, deterministically', async () => {
  const a = emptyImage(amd64);
  const b = emptyImage(arm64);
  const idx = imageIndex([{ platform: amd64, image: a }, { platform: arm64, image: b, annotations: { k: 'v' } }], { annotations: { i: '1' } });
  const m = await idx.indexManifest();
  assert.equal(m.mediaType, MediaTypes.ociIndex);
  assert.equal(m.manifests.length, 2);
  assert.equal(m.manifests[0]?.digest, await a.digest());
  assert.deepEqual(m.manifests[1]?.platform, arm64);
  assert.deepEqual(m.manifests[1]?.annotations, { k: 'v' });
  assert.equal(m.manifests[0]?.size, (await a.rawManifest()).byteLength);
  assert.equal(await idx.digest(), sha256Of(await idx.rawManifest()));
  assert.deepEqual(parseJson(await idx.rawManifest(), 'index'), JSON.parse(new TextDecoder().decode(await idx.rawManifest())));
  assert.equal(await idx.image(await b.digest()), b);
  const again = imageIndex([{ platform: amd64, image: emptyImage(amd64) }, { platform: arm64, image: emptyImage(arm64), annotations: { k: 'v' } }], { annotations: { i: '1' } });
  assert.equal(await again.digest(), await idx.digest());
  assert.throws(() => imageIndex([{ platform: amd64, image: a }, { platform: amd64, image: a }]), /appears twice/);
});

test('parsePlatformList splits, validates and refuses duplicates', () => {
  assert.deepEqual(parsePlatformList('linux/amd64, linux/arm64/v8'), [amd64, arm64]);
  assert.throws(() => parsePlatformList('linux/amd64,linux'), /invalid platform "linux"/);
  assert.throws(() => parsePlatformList('linux/amd64,linux/amd64'), /listed twice/);
});

test('parseAnnotation: buildx prefixes, default manifest, platform filters, bad input', () => {
  assert.deepEqual(parseAnnotation('a=b=c'), { target: 'manifest', key: 'a', value: 'b=c' });
  assert.deepEqual(parseAnnotation('index:org.opencontainers.image.title=x'), { target: 'index', key: 'org.opencontainers.image.title', value: 'x' });
  assert.equal(parseAnnotation('manifest-descriptor:k=v').target, 'manifest-descriptor');
  assert.equal(parseAnnotation('index-descriptor:k=').value, '');
  assert.deepEqual(parseAnnotation('manifest[linux/arm64]:k=v').platform, { os: 'linux', architecture: 'arm64' });
  // A key with a colon but no known prefix is a plain manifest key (as buildx: only the four prefixes are types).
  assert.deepEqual(parseAnnotation('com.example:x=1'), { target: 'manifest', key: 'com.example:x', value: '1' });
  for (const bad of ['novalue', '=v', 'manifest:=v', 'index[linux/amd64]:k=v', 'bogus[linux/amd64]:k=v', 'manifest[linux]:k=v']) {
    assert.throws(() => parseAnnotation(bad), /--annotation/, bad);
  }
  const list = ['k=1', 'k=2', 'index:i=1', 'manifest[linux/arm64]:only=arm'].map(parseAnnotation);
  assert.deepEqual(annotationsFor(list, 'manifest', (p) => p.architecture === 'amd64'), { k: '2' });
  assert.deepEqual(annotationsFor(list, 'manifest', (p) => p.architecture === 'arm64'), { k: '2', only: 'arm' });
  assert.deepEqual(annotationsFor(list, 'index'), { i: '1' });
});

test('withManifestAnnotations sets manifest annotations; none keeps the digest', async () => {
  const img = emptyImage(amd64);
  assert.equal(withManifestAnnotations(img, {}), img);
  const annotated = withManifestAnnotations(img, { b: '2', a: '1' });
  assert.deepEqual((await annotated.manifest()).annotations, { b: '2', a: '1' });
  assert.match(new TextDecoder().decode(await annotated.rawManifest()), /"annotations":\{"a":"1","b":"2"\}/);
  assert.notEqual(await annotated.digest(), await img.digest());
});
