import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { anonymousKeychain } from '../auth/keychain.ts';
import { fixtureImage, fixtureLayer } from '../../test/support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../../test/support/registry-server.ts';
import type { RegistryOptions } from './options.ts';
import { parseReference } from './reference.ts';
import { RegistryError } from './registry-error.ts';
import { remoteImage, writeImage } from './remote.ts';

describe('HTTPS registries', () => {
  let reg: TestRegistry;
  before(async () => { reg = await startRegistry({ tls: true }); });
  after(async () => { await reg.stop(); });

  const opts = (extra: Partial<RegistryOptions>): RegistryOptions => ({
    keychain: anonymousKeychain, insecureRegistries: new Set(), skipTlsVerifyRegistries: new Set(), certificates: new Map(),
    clientCerts: new Map(), retries: 0, userAgent: 'test', log: pino({ level: 'silent' }), ...extra,
  });

  it('rejects an untrusted certificate with one clear line', async () => {
    await assert.rejects(remoteImage(parseReference(`${reg.host}/tls/app:1`), opts({})), (err: unknown) => {
      assert.ok(err instanceof RegistryError);
      assert.match(err.message, new RegExp(`^cannot reach registry ${reg.host.replace(/\./g, '\\.')}: `));
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  it('trusts a --registry-certificate CA, or skips verification when told', async () => {
    const img = await fixtureImage([await fixtureLayer([{ name: 'tls', content: 'secure' }])]);
    const ref = parseReference(`${reg.host}/tls/app:1`);
    assert.ok(reg.caFile !== undefined);
    const digest = await writeImage(ref, img, opts({ certificates: new Map([[reg.host, reg.caFile]]) }));
    const pulled = await remoteImage(ref, opts({ skipTlsVerifyRegistries: new Set([reg.host]) }));
    assert.equal(await pulled.digest(), digest);
  });
});
