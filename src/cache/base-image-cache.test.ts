import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { anonymousKeychain } from '../auth/keychain.ts';
import { isMountable } from '../oci/image.ts';
import { MediaTypes, type Digest, type Platform } from '../oci/types.ts';
import { validateImage } from '../oci/validate.ts';
import { RegistryClient } from '../registry/client.ts';
import { parseReference } from '../registry/reference.ts';
import { writeImage, type RemoteOptions } from '../registry/remote.ts';
import { fixtureImage, fixtureLayer } from '../../test/support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../../test/support/registry-server.ts';
import { cachedBaseImage, cacheKeyFor, warmImage, type WarmOptions } from './base-image-cache.ts';
import { entryPath } from './cache-entries.ts';

const run = promisify(execFile);
const log = pino({ level: 'silent' });
const amd64: Platform = { os: 'linux', architecture: 'amd64' };
const arm64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const DAY = 24 * 3600 * 1000;

/** skopeo's oci: transport splits at the first ':', so the entry (named sha256:<hex>) is reached through a symlink. */
async function skopeoInspect(entry: string): Promise<{ stdout: string }> {
  const link = `${entry.replace(/sha256:/, 'link-')}`;
  await symlink(entry, link);
  try {
    return await run('skopeo', ['inspect', `oci:${link}`]);
  } finally {
    await rm(link, { force: true });
  }
}

function registryOptions(host: string, platform: Platform = amd64): RemoteOptions {
  return {
    keychain: anonymousKeychain, insecureRegistries: new Set([host]), skipTlsVerifyRegistries: new Set(),
    certificates: new Map(), clientCerts: new Map(), retries: 0, backoff: () => 10, userAgent: 'kaniko-ts-test', log, platform,
  };
}

describe('base-image cache against docker-registry', () => {
  let reg: TestRegistry;
  let running = true;
  let work: string;
  let imageDigest: Digest;
  let indexDigest: Digest;
  let arm64Digest: Digest;
  let tagRef: string;
  let indexRef: string;
  const dirs: string[] = [];

  const newCacheDir = async (): Promise<string> => {
    const d = await mkdtemp(join(work, 'cache-'));
    dirs.push(d);
    return d;
  };
  const warmOpts = (cacheDir: string, extra: Partial<WarmOptions> = {}): WarmOptions =>
    ({ cacheDir, ttl: DAY, registry: registryOptions(reg.host), log, ...extra });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'base-image-cache-'));
    reg = await startRegistry();
    const opts = registryOptions(reg.host);
    const img = await fixtureImage([
      await fixtureLayer([{ name: 'etc/hello', content: 'hello' }]),
      await fixtureLayer([{ name: 'bin/tool', content: 'tool' }]),
    ], { format: 'docker' });
    tagRef = `${reg.host}/base/app:1.0`;
    imageDigest = await writeImage(parseReference(tagRef), img, opts);

    // A two-platform index, as public base images are.
    const forAmd = await fixtureImage([await fixtureLayer([{ name: 'arch', content: 'amd64' }])], { platform: amd64 });
    const forArm = await fixtureImage([await fixtureLayer([{ name: 'arch', content: 'arm64' }])], { platform: arm64 });
    const repo = `${reg.host}/base/multi`;
    const amdDigest = await writeImage(parseReference(`${repo}@${await forAmd.digest()}`), forAmd, opts);
    arm64Digest = await writeImage(parseReference(`${repo}@${await forArm.digest()}`), forArm, opts);
    const index = {
      schemaVersion: 2, mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.ociManifest, digest: amdDigest, size: (await forAmd.rawManifest()).byteLength, platform: amd64 },
        { mediaType: MediaTypes.ociManifest, digest: arm64Digest, size: (await forArm.rawManifest()).byteLength, platform: arm64 },
      ],
    };
    const client = new RegistryClient(opts);
    indexRef = `${repo}:latest`;
    indexDigest = await client.putManifest(parseReference(indexRef), new TextEncoder().encode(JSON.stringify(index)), MediaTypes.ociIndex);
    await client.close();
  });

  after(async () => {
    if (running) await reg.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('warms an image into a valid OCI layout named by its manifest digest, and a second warm finds it', async () => {
    const cacheDir = await newCacheDir();
    const first = await warmImage(tagRef, warmOpts(cacheDir));
    assert.deepEqual(first, { digest: imageDigest, status: 'cached' });
    const entry = join(cacheDir, imageDigest);
    assert.equal(entryPath(cacheDir, imageDigest), entry);
    const { stdout } = await skopeoInspect(entry);
    assert.equal((JSON.parse(stdout) as { Digest: string }).Digest, imageDigest);
    assert.deepEqual((await readdir(cacheDir)).filter((n) => n.startsWith('.tmp')), []);

    const second = await warmImage(tagRef, warmOpts(cacheDir));
    assert.deepEqual(second, { digest: imageDigest, status: 'already-cached' });
  });

  it('--force writes the entry again', async () => {
    const cacheDir = await newCacheDir();
    await warmImage(tagRef, warmOpts(cacheDir));
    const before = await stat(join(cacheDir, imageDigest));
    const again = await warmImage(tagRef, warmOpts(cacheDir, { force: true }));
    assert.equal(again.status, 'cached');
    const after = await stat(join(cacheDir, imageDigest));
    assert.notEqual(after.ino, before.ino, 'a new directory replaced the old one');
    await validateImage((await cachedBaseImage(tagRef, { cacheDir, ttl: DAY, platform: amd64, log })) ?? assert.fail('miss'));
    assert.deepEqual((await readdir(cacheDir)).filter((n) => n.startsWith('.tmp')), []);
  });

  it('treats an entry older than the TTL as expired, and a warm renews it', async () => {
    const cacheDir = await newCacheDir();
    await warmImage(tagRef, warmOpts(cacheDir));
    const old = new Date(Date.now() - 2 * DAY);
    await utimes(join(cacheDir, imageDigest), old, old);
    assert.equal(await cachedBaseImage(tagRef, { cacheDir, ttl: DAY, platform: amd64, log }), undefined);
    assert.ok(await cachedBaseImage(tagRef, { cacheDir, ttl: 3 * DAY, platform: amd64, log }), 'fresh under a longer TTL');
    const renewed = await warmImage(tagRef, warmOpts(cacheDir));
    assert.equal(renewed.status, 'cached');
    assert.ok(await cachedBaseImage(tagRef, { cacheDir, ttl: DAY, platform: amd64, log }));
  });

  it('two warmers at once on the same image both succeed and leave one valid entry', async () => {
    const cacheDir = await newCacheDir();
    const results = await Promise.all([0, 1, 2].map(async () => {
      const settings = registryOptions(reg.host);
      const client = new RegistryClient(settings);
      try {
        return await warmImage(tagRef, { ...warmOpts(cacheDir), registry: { ...settings, client } });
      } finally {
        await client.close();
      }
    }));
    assert.ok(results.every((r) => r.digest === imageDigest));
    assert.equal(results.filter((r) => r.status === 'cached').length, 1, JSON.stringify(results));
    assert.deepEqual((await readdir(cacheDir)).sort(), ['refs', imageDigest]);
    await skopeoInspect(join(cacheDir, imageDigest));
  });

  it('keys an index by the platform entry, and cacheKeyFor agrees', async () => {
    const cacheDir = await newCacheDir();
    const opts = { ...warmOpts(cacheDir), registry: registryOptions(reg.host, arm64) };
    assert.equal(await cacheKeyFor(indexRef, opts), arm64Digest);
    const warmed = await warmImage(indexRef, opts);
    assert.equal(warmed.digest, arm64Digest);
    assert.ok(await cachedBaseImage(indexRef, { cacheDir, ttl: DAY, platform: { os: 'linux', architecture: 'arm64' }, log }),
      'linux/arm64 and linux/arm64/v8 are one platform');
    assert.equal(await cachedBaseImage(indexRef, { cacheDir, ttl: DAY, platform: amd64, log }), undefined, 'not warmed for amd64');
    const byIndexDigest = `${reg.host}/base/multi@${indexDigest}`;
    await warmImage(byIndexDigest, opts);
    const img = await cachedBaseImage(byIndexDigest, { cacheDir, ttl: DAY, platform: arm64, log });
    assert.equal(await img?.digest(), arm64Digest);
  });

  it('misses quietly: unknown images, invalid references, broken entries', async () => {
    const cacheDir = await newCacheDir();
    const look = { cacheDir, ttl: DAY, platform: amd64, log };
    assert.equal(await cachedBaseImage(`${reg.host}/nothing/here:1`, look), undefined);
    assert.equal(await cachedBaseImage('Not A Reference', look), undefined);
    await warmImage(tagRef, warmOpts(cacheDir));
    await writeFile(join(cacheDir, imageDigest, 'index.json'), '{not json');
    assert.equal(await cachedBaseImage(tagRef, look), undefined);
  });

  it('fails a warm of a missing image without leaving anything behind', async () => {
    const cacheDir = await newCacheDir();
    await assert.rejects(warmImage(`${reg.host}/base/app:missing`, warmOpts(cacheDir)), /missing|not found|unknown/i);
    assert.deepEqual(await readdir(cacheDir), []);
  });

  it('serves tag and digest references after the registry has stopped', async () => {
    const cacheDir = await newCacheDir();
    await warmImage(tagRef, warmOpts(cacheDir));
    const settings = registryOptions(reg.host);
    const look = { cacheDir, ttl: DAY, platform: amd64, log };
    const online = await cachedBaseImage(tagRef, { ...look, resolve: (r) => cacheKeyFor(r, { registry: settings }) });
    assert.equal(await online?.digest(), imageDigest);

    await reg.stop();
    running = false;
    const byTag = await cachedBaseImage(tagRef, look);
    assert.ok(byTag !== undefined);
    await validateImage(byTag);
    const layers = await byTag.layers();
    assert.ok(layers.every((l) => isMountable(l) && l.source.repository === 'base/app'), 'layers can be mounted from their repository');

    const resolving = await cachedBaseImage(tagRef, { ...look, resolve: (r) => cacheKeyFor(r, { registry: settings }) });
    assert.equal(await resolving?.digest(), imageDigest, 'an unreachable registry falls back to the recorded digest');

    const byDigest = await cachedBaseImage(`${reg.host}/base/app@${imageDigest}`, look);
    assert.ok(byDigest !== undefined);
    await validateImage(byDigest);
  });
});
