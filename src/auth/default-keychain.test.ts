// defaultKeychain: kaniko's order — config.json, then Google, ECR, ACR, GitLab — first non-anonymous wins.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { anonymous, defaultKeychain, type DefaultKeychainOptions } from './index.ts';

const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';

describe('defaultKeychain', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'default-keychain-'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'gcr.io': { username: 'from-config', password: 'p' } } }));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const options = (env: Record<string, string>, asked: string[]): DefaultKeychainOptions => ({
    configDir: dir,
    env,
    google: { tokenSource: async () => { asked.push('google'); return 'g-token'; } },
    ecr: {
      fetchToken: async () => {
        asked.push('ecr');
        return { authorizationToken: Buffer.from('AWS:e-token').toString('base64'), expiresAt: new Date(Date.now() + 3_600_000) };
      },
    },
  });

  it('prefers config.json over the cloud helpers', async () => {
    const asked: string[] = [];
    const auth = await defaultKeychain(options({}, asked)).resolve('gcr.io');
    assert.deepEqual(await auth.authorization(), { username: 'from-config', password: 'p' });
    assert.deepEqual(asked, []);
  });

  it('falls through to the helper that owns the host', async () => {
    const asked: string[] = [];
    const kc = defaultKeychain(options({ CI_REGISTRY: 'registry.gitlab.example', CI_REGISTRY_USER: 'u', CI_REGISTRY_PASSWORD: 'pw' }, asked));
    assert.deepEqual(await (await kc.resolve('eu.gcr.io')).authorization(), { username: 'oauth2accesstoken', password: 'g-token' });
    assert.deepEqual(await (await kc.resolve(ECR)).authorization(), { username: 'AWS', password: 'e-token' });
    assert.deepEqual(await (await kc.resolve('registry.gitlab.example')).authorization(), { username: 'u', password: 'pw' });
    assert.equal(await kc.resolve('index.docker.io'), anonymous);
    assert.equal(await kc.resolve('myregistry.azurecr.io'), anonymous, 'no service principal in env');
    assert.deepEqual(asked, ['google', 'ecr']);
  });

  it('works without a config directory', async () => {
    const asked: string[] = [];
    const kc = defaultKeychain({ ...options({}, asked), configDir: undefined });
    assert.equal(await kc.resolve('quay.io'), anonymous);
    assert.notEqual(await kc.resolve('gcr.io'), anonymous);
  });
});
