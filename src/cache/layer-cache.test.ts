import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { anonymousKeychain } from '../auth/keychain.ts';
import { UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { isMountable } from '../oci/image.ts';
import { MediaTypes } from '../oci/types.ts';
import { RegistryClient } from '../registry/client.ts';
import { parseReference } from '../registry/reference.ts';
import { remoteImage, type RemoteOptions } from '../registry/remote.ts';
import { fixtureLayer, readStream } from '../../test/support/fixture-image.ts';
import { freePort, startRegistry, type TestRegistry } from '../../test/support/registry-server.ts';
import { cacheKey } from './cache-key.ts';
import { defaultCacheRepo, ociLayerCache, parseCacheRepo, registryLayerCache } from './layer-cache.ts';

const DAY = 24 * 3600 * 1000;
const t0 = new Date('2030-01-01T00:00:00Z');

/** A logger that keeps its warnings, to assert on them. */
function capturingLog(): { log: Log; warnings: string[] } {
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        const rec = JSON.parse(line) as { level: number; msg: string };
        if (rec.level === 40) warnings.push(rec.msg);
      }
      done();
    },
  });
  return { log: pino({ level: 'warn' }, sink), warnings };
}

function registryOptions(host: string, log: Log): RemoteOptions {
  return {
    keychain: anonymousKeychain, insecureRegistries: new Set([host]), skipTlsVerifyRegistries: new Set(),
    certificates: new Map(), clientCerts: new Map(), retries: 0, backoff: () => 10, userAgent: 'kaniko-ts-test', log,
    platform: { os: 'linux', architecture: 'amd64' },
  };
}

/** Let pino's asynchronous sink see the lines. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('registry layer cache', () => {
  let reg: TestRegistry;

  before(async () => { reg = await startRegistry(); });
  after(async () => { await reg.stop(); });

  it('put then get returns the same layer (digest, diffId, bytes), lazily and mountable from the cache repo', async () => {
    const { log, warnings } = capturingLog();
    const repo = `${reg.host}/app/cache`;
    const cache = registryLayerCache({ repo, registry: registryOptions(reg.host, log), ttlMs: DAY, log, now: () => t0 });
    const layer = await fixtureLayer([{ name: 'etc/made-by-run', content: 'hello' }]);
    const key = cacheKey('sha256:' + '0'.repeat(64), ['RUN echo hello > /etc/made-by-run']);
    await cache.put(key, layer, { created_by: 'RUN echo hello > /etc/made-by-run' });

    const hit = await cache.get(key);
    assert.ok(hit !== undefined);
    assert.equal(await hit.layer.digest(), await layer.digest());
    assert.equal(await hit.layer.diffId(), await layer.diffId());
    assert.equal(hit.history?.created_by, 'RUN echo hello > /etc/made-by-run');
    assert.ok(isMountable(hit.layer));
    assert.deepEqual(hit.layer.source, { registry: reg.host, repository: 'app/cache' });
    assert.deepEqual(await readStream(await hit.layer.compressed()), layer.compressedBytes);

    // The stored image: kaniko's shape (one layer, config created = put time, the history entry).
    const img = await remoteImage(parseReference(`${repo}:${key}`), registryOptions(reg.host, log));
    const config = await img.configFile();
    assert.equal(config.created, '2030-01-01T00:00:00Z');
    assert.equal(config.rootfs.diff_ids.length, 1);
    assert.equal((await img.manifest()).mediaType, MediaTypes.ociManifest, 'an OCI layer gets an OCI manifest');
    await flush();
    assert.deepEqual(warnings, []);
  });

  it('the same layer under two keys (the blob exists once in the repository)', async () => {
    const { log } = capturingLog();
    const client = new RegistryClient(registryOptions(reg.host, log));
    try {
      const opts = { ...registryOptions(reg.host, log), client };
      const cache = registryLayerCache({ repo: `${reg.host}/app/cache`, registry: opts, ttlMs: DAY, log, now: () => t0 });
      const layer = await fixtureLayer([{ name: 'twice', content: 'same bytes' }]);
      await cache.put(cacheKey('p', ['one']), layer, { created_by: 'one' });
      await cache.put(cacheKey('p', ['two']), layer, { created_by: 'two' });
      assert.ok(await cache.get(cacheKey('p', ['two'])));
    } finally {
      await client.close();
    }
  });

  it('expires entries older than the TTL (config.created + ttl < now)', async () => {
    const { log } = capturingLog();
    const repo = `${reg.host}/ttl/cache`;
    let now = t0;
    const cache = registryLayerCache({ repo, registry: registryOptions(reg.host, log), ttlMs: DAY, log, now: () => now });
    const key = cacheKey('p', ['ttl']);
    await cache.put(key, await fixtureLayer([{ name: 'f', content: 'x' }]), { created_by: 'RUN x' });
    now = new Date(t0.getTime() + DAY);
    assert.ok(await cache.get(key), 'exactly at the TTL it is still fresh');
    now = new Date(t0.getTime() + DAY + 1000);
    assert.equal(await cache.get(key), undefined);
  });

  it('a missing key is a quiet miss', async () => {
    const { log, warnings } = capturingLog();
    const cache = registryLayerCache({ repo: `${reg.host}/never/pushed`, registry: registryOptions(reg.host, log), ttlMs: DAY, log });
    assert.equal(await cache.get(cacheKey('p', ['nothing'])), undefined);
    const other = registryLayerCache({ repo: `${reg.host}/app/cache`, registry: registryOptions(reg.host, log), ttlMs: DAY, log });
    assert.equal(await other.get(cacheKey('p', ['nothing'])), undefined);
    await flush();
    assert.deepEqual(warnings, []);
  });

  it('--no-push-cache: put does nothing', async () => {
    const { log } = capturingLog();
    const cache = registryLayerCache({ repo: `${reg.host}/nopush/cache`, registry: registryOptions(reg.host, log), ttlMs: DAY, log, push: false });
    const key = cacheKey('p', ['nopush']);
    await cache.put(key, await fixtureLayer([{ name: 'f', content: 'x' }]), {});
    assert.equal(await cache.get(key), undefined);
  });

  it('an unreachable registry: get → undefined with one warning, put only warns', async () => {
    const { log, warnings } = capturingLog();
    const host = `127.0.0.1:${await freePort()}`;
    const cache = registryLayerCache({ repo: `${host}/app/cache`, registry: registryOptions(host, log), ttlMs: DAY, log });
    assert.equal(await cache.get(cacheKey('p', ['a'])), undefined);
    assert.equal(await cache.get(cacheKey('p', ['b'])), undefined);
    await cache.put(cacheKey('p', ['a']), await fixtureLayer([{ name: 'f', content: 'x' }]), {});
    await flush();
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /cannot be read, building without it/);
    assert.match(warnings[1] ?? '', /Could not push a layer to the cache/);
  });

  it('refuses keys that are not tags', async () => {
    const { log } = capturingLog();
    const cache = registryLayerCache({ repo: `${reg.host}/app/cache`, registry: registryOptions(reg.host, log), ttlMs: DAY, log });
    await assert.rejects(cache.get('../x'), /invalid layer cache key/);
  });
});

describe('oci layer cache', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'oci-layer-cache-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('round trip, TTL, miss, replace', async () => {
    const { log, warnings } = capturingLog();
    let now = t0;
    const cache = ociLayerCache({ dir: join(dir, 'layers'), ttlMs: DAY, log, now: () => now });
    const key = cacheKey('p', ['COPY a /a']);
    assert.equal(await cache.get(key), undefined, 'miss before the directory exists');
    const layer = await fixtureLayer([{ name: 'a', content: 'A' }]);
    await cache.put(key, layer, { created_by: 'COPY a /a' });
    const hit = await cache.get(key);
    assert.ok(hit !== undefined);
    assert.equal(await hit.layer.digest(), await layer.digest());
    assert.equal(await hit.layer.diffId(), await layer.diffId());
    assert.equal(hit.history?.created_by, 'COPY a /a');
    assert.deepEqual(await readStream(await hit.layer.compressed()), layer.compressedBytes);
    assert.deepEqual(await readdir(join(dir, 'layers')), [key], 'one layout per key, no temporary leftovers');

    now = new Date(t0.getTime() + 2 * DAY);
    assert.equal(await cache.get(key), undefined, 'expired');
    // Renewing an expired entry replaces it in place.
    await cache.put(key, layer, { created_by: 'COPY a /a' });
    assert.ok(await cache.get(key));
    assert.deepEqual(await readdir(join(dir, 'layers')), [key]);
    await flush();
    assert.deepEqual(warnings, []);
  });

  it('a broken entry is a miss with a warning', async () => {
    const { log, warnings } = capturingLog();
    const cache = ociLayerCache({ dir: join(dir, 'broken'), ttlMs: DAY, log });
    const key = cacheKey('p', ['broken']);
    await cache.put(key, await fixtureLayer([{ name: 'a', content: 'A' }]), {});
    await rm(join(dir, 'broken', key, 'blobs'), { recursive: true });
    assert.equal(await cache.get(key), undefined);
    await flush();
    assert.equal(warnings.length, 1);
  });
});

describe('cache repo flags', () => {
  it('defaultCacheRepo: the first destination repository + /cache', () => {
    assert.equal(defaultCacheRepo('127.0.0.1:5000/app:1.0'), '127.0.0.1:5000/app/cache');
    assert.equal(defaultCacheRepo('gcr.io/p/img@sha256:' + 'a'.repeat(64)), 'gcr.io/p/img/cache');
    assert.equal(defaultCacheRepo('busybox'), 'index.docker.io/library/busybox/cache');
  });
  it('parseCacheRepo: registry repositories and oci:DIR', () => {
    assert.deepEqual(parseCacheRepo('127.0.0.1:5000/app/cache'), { kind: 'registry', repo: '127.0.0.1:5000/app/cache' });
    assert.deepEqual(parseCacheRepo('oci:/tmp/layers'), { kind: 'oci', dir: '/tmp/layers' });
    assert.throws(() => parseCacheRepo('127.0.0.1:5000/app/cache:tag'), UsageError);
    assert.throws(() => parseCacheRepo('oci:'), UsageError);
    assert.throws(() => parseCacheRepo('Not A Repo'), UsageError);
  });
});
