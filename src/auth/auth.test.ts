import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anonymous, basicCredentials, configKeyHost, dockerConfigKeychain, multiKeychain, staticAuthenticator } from './index.ts';
import type { Keychain } from './index.ts';
import { BuildError } from '../errors.ts';

describe('auth', () => {
  let dir: string;
  let binDir: string;
  const env = (): Record<string, string> => ({ PATH: `${binDir}:/usr/bin:/bin` });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'auth-test-'));
    binDir = join(dir, 'bin');
    await writeFile(join(dir, 'placeholder'), '');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(binDir);
    // A fake helper: knows one server, reports "not found" otherwise, fails for 'broken.example'.
    await writeFile(join(binDir, 'docker-credential-test'), [
      '#!/bin/sh',
      'read server',
      'case "$server" in',
      '  helped.example:5000) echo \'{"ServerURL":"helped.example:5000","Username":"helper-user","Secret":"helper-secret"}\' ;;',
      '  tokened.example) echo \'{"Username":"<token>","Secret":"refresh-me"}\' ;;',
      '  broken.example) echo "s3cr3t-leak"; exit 3 ;;',
      '  *) echo "credentials not found in native keychain"; exit 1 ;;',
      'esac',
      '',
    ].join('\n'));
    await chmod(join(binDir, 'docker-credential-test'), 0o755);
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('maps config keys to canonical hosts', () => {
    assert.equal(configKeyHost('https://index.docker.io/v1/'), 'index.docker.io');
    assert.equal(configKeyHost('docker.io'), 'index.docker.io');
    assert.equal(configKeyHost('http://127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(configKeyHost('Registry.Example.com/v2/'), 'registry.example.com');
  });

  it('reads auths entries (auth, username/password, identitytoken)', async () => {
    const cfgDir = join(dir, 'auths');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(cfgDir);
    await writeFile(join(cfgDir, 'config.json'), JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hub:pass').toString('base64') },
        '127.0.0.1:5000': { username: 'u', password: 'p' },
        'https://id.example': { identitytoken: 'tok' },
      },
    }));
    const kc = dockerConfigKeychain({ configDir: cfgDir, env: env() });
    const hub = await (await kc.resolve('index.docker.io')).authorization();
    assert.deepEqual(basicCredentials(hub), { username: 'hubuser', password: 'hub:pass' });
    assert.deepEqual(await (await kc.resolve('127.0.0.1:5000')).authorization(), { username: 'u', password: 'p' });
    assert.deepEqual(await (await kc.resolve('id.example')).authorization(), { identityToken: 'tok' });
    assert.equal(await kc.resolve('127.0.0.1:5001'), anonymous, 'a different port is a different registry');
    assert.equal(await kc.resolve('evil.127.0.0.1:5000'), anonymous);
  });

  it('uses credHelpers and credsStore through the PATH seam', async () => {
    const { mkdir } = await import('node:fs/promises');
    const cfgDir = join(dir, 'helpers');
    await mkdir(cfgDir);
    await writeFile(join(cfgDir, 'config.json'), JSON.stringify({
      credHelpers: { 'helped.example:5000': 'test', 'broken.example': 'test', 'missing.example': 'absent' },
      credsStore: 'test',
      auths: { 'other.example': { username: 'file', password: 'fallback' } },
    }));
    const kc = dockerConfigKeychain({ configDir: cfgDir, env: env() });
    assert.deepEqual(await (await kc.resolve('helped.example:5000')).authorization(), { username: 'helper-user', password: 'helper-secret' });
    assert.deepEqual(await (await kc.resolve('tokened.example')).authorization(), { identityToken: 'refresh-me' });
    // The store has nothing for other.example: the auths entry is used.
    assert.deepEqual(await (await kc.resolve('other.example')).authorization(), { username: 'file', password: 'fallback' });
    assert.equal(await kc.resolve('nowhere.example'), anonymous);
    await assert.rejects(kc.resolve('broken.example'), (err: unknown) => {
      assert.ok(err instanceof BuildError);
      assert.equal(err.code, 'AUTH');
      assert.match(err.message, /docker-credential-test failed for broken\.example/);
      assert.doesNotMatch(err.message, /s3cr3t/);
      return true;
    });
    await assert.rejects(kc.resolve('missing.example'), /docker-credential-absent not found on PATH/);
  });

  it('rejects a malformed config.json naming the file', async () => {
    const { mkdir } = await import('node:fs/promises');
    const cfgDir = join(dir, 'bad');
    await mkdir(cfgDir);
    await writeFile(join(cfgDir, 'config.json'), '{"auths": {"x": {"auth": 5}}}');
    const kc = dockerConfigKeychain({ configDir: cfgDir, env: env() });
    await assert.rejects(kc.resolve('x'), /config\.json: auths\["x"\]\.auth must be a string/);
  });

  it('no config dir or no file means anonymous', async () => {
    assert.equal(await dockerConfigKeychain({ configDir: undefined, env: env() }).resolve('a'), anonymous);
    assert.equal(await dockerConfigKeychain({ configDir: join(dir, 'nope'), env: env() }).resolve('a'), anonymous);
  });

  it('multiKeychain returns the first non-anonymous authenticator', async () => {
    const none: Keychain = { resolve: async () => anonymous };
    const some = staticAuthenticator({ username: 'a', password: 'b' });
    const kc = multiKeychain(none, { resolve: async (r) => (r === 'x' ? some : anonymous) });
    assert.equal(await kc.resolve('x'), some);
    assert.equal(await kc.resolve('y'), anonymous);
  });
});
