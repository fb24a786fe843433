import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { anonymousKeychain } from '../auth/keychain.ts';
import { BuildError } from '../errors.ts';
import { startFaultProxy, type FaultProxy } from '../../test/support/fault-proxy.ts';
import { fixtureImage, fixtureLayer, readStream, sha256 } from '../../test/support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../../test/support/registry-server.ts';
import type { RegistryOptions } from './options.ts';
import { parseReference } from './reference.ts';
import { isTemporary, RegistryError } from './registry-error.ts';
import { remoteImage, writeImage } from './remote.ts';
import { withRetries } from './retry.ts';

describe('registry faults (through the fault proxy)', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  const opts = (retries: number): RegistryOptions => ({
    keychain: anonymousKeychain,
    insecureRegistries: new Set([proxy.host]),
    skipTlsVerifyRegistries: new Set(),
    certificates: new Map(),
    clientCerts: new Map(),
    retries,
    backoff: () => 20,
    userAgent: 'kaniko-ts-test',
    log: pino({ level: 'silent' }),
  });

  before(async () => {
    reg = await startRegistry({ auth: 'none' });
    proxy = await startFaultProxy(reg.url);
  });
  after(async () => {
    await proxy.stop();
    await reg.stop();
  });

  it('two 500s then success, with retries=3', async () => {
    const img = await fixtureImage([await fixtureLayer([{ name: 'f', content: '500s' }])]);
    proxy.plan.push({ kind: 'status', method: 'PUT', path: /\/manifests\//, status: 500, times: 2 });
    const digest = await writeImage(parseReference(`${proxy.host}/faults/five:1`), img, opts(3));
    assert.equal(digest, await img.digest());
    assert.equal(proxy.log.filter((e) => e.method === 'PUT' && e.path.includes('/manifests/') && e.fault === 'status').length, 2);
  });

  it('a 500 without retries is a temporary RegistryError naming the operation', async () => {
    const img = await fixtureImage([await fixtureLayer([{ name: 'f', content: 'no retry' }])]);
    proxy.plan.push({ kind: 'status', method: 'PUT', path: /\/manifests\//, status: 500, times: 1 });
    await assert.rejects(writeImage(parseReference(`${proxy.host}/faults/once:1`), img, opts(0)), (err: unknown) => {
      assert.ok(err instanceof RegistryError);
      assert.equal(err.status, 500);
      assert.ok(isTemporary(err));
      assert.match(err.message, /pushing manifest .*faults\/once:1: registry .* answered 500 Internal Server Error \(INJECTED: injected 500\)/);
      return true;
    });
  });

  it('honours Retry-After on 429', async () => {
    const img = await fixtureImage([await fixtureLayer([{ name: 'f', content: '429' }])]);
    proxy.plan.push({ kind: 'status', method: 'HEAD', path: /\/blobs\//, status: 429, times: 1, headers: { 'retry-after': '1' } });
    const started = Date.now();
    await writeImage(parseReference(`${proxy.host}/faults/slow:1`), img, opts(2));
    assert.ok(Date.now() - started >= 950, 'waited for Retry-After rather than the 20 ms backoff');
  });

  it('a connection reset mid-upload restarts the upload and the image is valid', async () => {
    const payload = Buffer.from(Array.from({ length: 50000 }, (_, i) => (i * 31) % 253));
    const layer = await fixtureLayer([{ name: 'big', content: payload }], { gzip: false });
    const img = await fixtureImage([layer]);
    proxy.plan.push({ kind: 'reset-request', method: 'PUT', path: /\/blobs\/uploads\//, afterBytes: 10000, times: 1 });
    const ref = parseReference(`${proxy.host}/faults/reset:1`);
    await writeImage(ref, img, opts(2));
    assert.ok(proxy.log.some((e) => e.fault === 'reset-request'));
    const pulled = await remoteImage(ref, opts(0));
    const got = (await pulled.layers())[0];
    assert.ok(got !== undefined);
    assert.equal(sha256(await readStream(await got.compressed())), await layer.digest());
  });

  it('a tampered blob on pull is a DIGEST_MISMATCH', async () => {
    const layer = await fixtureLayer([{ name: 't', content: 'tamper me please' }]);
    const ref = parseReference(`${proxy.host}/faults/tamper:1`);
    await writeImage(ref, await fixtureImage([layer]), opts(0));
    const pulled = await remoteImage(ref, opts(0));
    const got = (await pulled.layers())[0];
    assert.ok(got !== undefined);
    proxy.plan.push({ kind: 'tamper', method: 'GET', path: new RegExp(`/blobs/${await layer.digest()}`), times: 1 });
    await assert.rejects(got.compressed().then(readStream), (err: unknown) => {
      assert.ok(err instanceof BuildError);
      assert.equal(err.code, 'DIGEST_MISMATCH');
      return true;
    });
  });

  it('a connection reset mid-download is a temporary error', async () => {
    const layer = await fixtureLayer([{ name: 'r', content: Buffer.alloc(40000, 7) }], { gzip: false });
    const ref = parseReference(`${proxy.host}/faults/download:1`);
    await writeImage(ref, await fixtureImage([layer]), opts(0));
    const got = (await (await remoteImage(ref, opts(0))).layers())[0];
    assert.ok(got !== undefined);
    proxy.plan.push({ kind: 'reset-response', method: 'GET', path: /\/blobs\/sha256:/, afterBytes: 1000, times: 1 });
    await assert.rejects(got.compressed().then(readStream), (err: unknown) => {
      assert.ok(isTemporary(err), String(err));
      return true;
    });
    // Retrying the whole read succeeds.
    const bytes = await withRetries(async () => readStream(await got.compressed()), { retries: 1, backoff: () => 1 });
    assert.equal(sha256(bytes), await layer.digest());
  });
});
