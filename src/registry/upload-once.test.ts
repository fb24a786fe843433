// A blob bound for two repositories of one registry (a cache miss's layer: the cache repository and the destination)
// is uploaded once and mounted into the other (issue 18 item 4).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { anonymousKeychain } from '../auth/keychain.ts';
import { fixtureLayer } from '../../test/support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../../test/support/registry-server.ts';
import { RegistryClient } from './client.ts';

describe('one upload per registry', () => {
  let registry: TestRegistry;
  before(async () => { registry = await startRegistry({ auth: 'none' }); });
  after(async () => { await registry?.stop(); });

  it('the second repository mounts what the first uploads, even when both start at once', async () => {
    const client = new RegistryClient({
      keychain: anonymousKeychain, insecureRegistries: new Set([registry.host]), skipTlsVerifyRegistries: new Set(),
      certificates: new Map(), clientCerts: new Map(), retries: 0, backoff: () => 10, userAgent: 'kaniko-ts-test',
      log: pino({ level: 'silent' }),
    });
    try {
      const layer = await fixtureLayer([{ name: 'etc/once', content: 'uploaded once' }]);
      const cache = { registry: registry.host, repository: 'app/cache' };
      const dest = { registry: registry.host, repository: 'app' };
      const outcomes = await Promise.all([client.uploadBlob(cache, layer), client.uploadBlob(dest, layer)]);
      assert.deepEqual(outcomes, ['uploaded', 'mounted']);
      const digest = await layer.digest();
      assert.notEqual(await client.headBlob(cache, digest), undefined);
      assert.notEqual(await client.headBlob(dest, digest), undefined);
      // A third repository of the same registry mounts too; the first one asked again finds it.
      assert.equal(await client.uploadBlob({ registry: registry.host, repository: 'other' }, layer), 'mounted');
      assert.equal(await client.uploadBlob(cache, layer), 'uploaded');
    } finally {
      await client.close();
    }
  });
});
