import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BuildError } from '../errors.ts';
import {
  manifestKind, parseConfigFile, parseDescriptor, parseIndexManifest, parseJson, parseManifest, parsePlatform,
} from './parse.ts';
import { MediaTypes } from './types.ts';

const D = 'sha256:' + 'a'.repeat(64);
const desc = { mediaType: MediaTypes.dockerLayerGzip, size: 3, digest: D };

function rejectsWith(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BuildError, 'BuildError');
    assert.equal(e.code, 'INVALID_JSON');
    for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} names ${p}`);
    return true;
  });
}

test('parseJson names the document on bad JSON', () => {
  assert.deepEqual(parseJson('{"a":1}', 'x'), { a: 1 });
  assert.deepEqual(parseJson(new TextEncoder().encode('[1]'), 'x'), [1]);
  rejectsWith(() => parseJson('{', 'manifest of reg/repo:tag'), 'manifest of reg/repo:tag', 'not valid JSON');
});

test('parseDescriptor: good and bad', () => {
  assert.deepEqual(parseDescriptor(desc, 'm'), desc);
  const withAll = { ...desc, urls: ['https://x'], annotations: { a: 'b' }, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } };
  assert.deepEqual(parseDescriptor(withAll, 'm'), withAll);
  const table: Array<[unknown, string]> = [
    [null, 'descriptor must be an object'],
    [{ ...desc, mediaType: 1 }, 'descriptor.mediaType'],
    [{ ...desc, digest: 'sha256:zz' }, 'descriptor.digest'],
    [{ ...desc, size: -1 }, 'descriptor.size'],
    [{ ...desc, size: 1.5 }, 'descriptor.size'],
    [{ ...desc, urls: [1] }, 'descriptor.urls'],
    [{ ...desc, annotations: { a: 1 } }, 'descriptor.annotations'],
    [{ ...desc, platform: { os: 'linux' } }, 'descriptor.platform.architecture'],
  ];
  for (const [input, field] of table) rejectsWith(() => parseDescriptor(input, 'index of r'), 'index of r', field);
});

test('parseManifest / parseIndexManifest: good and bad', () => {
  const m = { schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: { ...desc, mediaType: MediaTypes.dockerConfig }, layers: [desc] };
  assert.deepEqual(parseManifest(m, 'm'), m);
  rejectsWith(() => parseManifest({ ...m, schemaVersion: 1 }, 'manifest of r'), 'manifest of r', 'schemaVersion');
  rejectsWith(() => parseManifest({ ...m, layers: {} }, 'm'), 'layers must be an array');
  rejectsWith(() => parseManifest({ ...m, layers: [desc, { ...desc, size: 'x' }] }, 'm'), 'layers[1].size');
  rejectsWith(() => parseManifest({ ...m, config: undefined }, 'm'), 'config must be an object');
  rejectsWith(() => parseManifest('x', 'm'), 'manifest must be an object');
  const idx = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ ...desc, platform: { os: 'linux', architecture: 'amd64' } }] };
  assert.deepEqual(parseIndexManifest(idx, 'i'), idx);
  rejectsWith(() => parseIndexManifest({ ...idx, manifests: null }, 'i'), 'manifests must be an array');
  rejectsWith(() => parseIndexManifest({ ...idx, manifests: [{ ...desc, digest: 'x' }] }, 'i'), 'manifests[0].digest');
});

test('parsePlatform', () => {
  assert.deepEqual(parsePlatform({ os: 'linux', architecture: 'arm', variant: 'v7', extra: 1 }, 'p'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  rejectsWith(() => parsePlatform({ os: '', architecture: 'x' }, 'p'), 'platform.os');
  rejectsWith(() => parsePlatform({ os: 'linux', architecture: 'x', variant: 7 }, 'p'), 'platform.variant');
});

test('parseConfigFile keeps unknown fields and validates the ones we use', () => {
  const cfg = {
    architecture: 'amd64', os: 'linux', docker_version: '24', container_config: { Hostname: 'x' },
    config: { Env: ['A=b'], Cmd: null, Labels: { a: 'b' } },
    rootfs: { type: 'layers', diff_ids: [D] },
    history: [{ created_by: 'x', empty_layer: true }],
  };
  const parsed = parseConfigFile(JSON.parse(JSON.stringify(cfg)) as unknown, 'config of r');
  assert.equal(JSON.stringify(parsed), JSON.stringify(cfg), 'round trip keeps every field');
  const noConfig = parseConfigFile({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }, 'c');
  assert.deepEqual(noConfig.config, {});
  assert.deepEqual(noConfig.rootfs.diff_ids, []);
  const table: Array<[Record<string, unknown>, string]> = [
    [{ architecture: 1 }, 'architecture'],
    [{ os: undefined }, 'os'],
    [{ rootfs: { type: 'x', diff_ids: [] } }, 'rootfs.type'],
    [{ rootfs: { type: 'layers', diff_ids: ['nope'] } }, 'rootfs.diff_ids[0]'],
    [{ config: { Env: 'A=b' } }, 'config.Env'],
    [{ config: { Cmd: 'ls' } }, 'config.Cmd'],
    [{ config: { Labels: { a: 1 } } }, 'config.Labels'],
    [{ config: { User: 0 } }, 'config.User'],
    [{ history: {} }, 'history must be an array'],
    [{ history: [{ empty_layer: 'yes' }] }, 'history[0].empty_layer'],
  ];
  for (const [patch, field] of table) {
    rejectsWith(() => parseConfigFile({ ...JSON.parse(JSON.stringify(cfg)) as object, ...patch }, 'config of r'), 'config of r', field);
  }
});

test('manifestKind by mediaType, content type, then shape', () => {
  assert.equal(manifestKind({ mediaType: MediaTypes.ociIndex }), 'index');
  assert.equal(manifestKind({ mediaType: MediaTypes.dockerManifestList }), 'index');
  assert.equal(manifestKind({ mediaType: MediaTypes.dockerManifest, manifests: [] }), 'image');
  assert.equal(manifestKind({}, MediaTypes.ociIndex), 'index');
  assert.equal(manifestKind({ manifests: [] }), 'index');
  assert.equal(manifestKind({ layers: [] }), 'image');
});
