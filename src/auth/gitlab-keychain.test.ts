// GitLab CI's registry variables, offered to exactly CI_REGISTRY's host and no other.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gitlabKeychain } from './gitlab-keychain.ts';
import { anonymous } from './keychain.ts';

describe('gitlabKeychain', () => {
  const env = { CI_REGISTRY: 'registry.gitlab.example:5050', CI_REGISTRY_USER: 'gitlab-ci-token', CI_REGISTRY_PASSWORD: 'job-token' };
  const table: readonly [string, boolean][] = [
    ['registry.gitlab.example:5050', true],
    ['REGISTRY.GITLAB.EXAMPLE:5050', true],
    ['registry.gitlab.example', false],           // another port is another registry
    ['gitlab.example:5050', false],
    ['registry.gitlab.example.evil:5050', false],
    ['index.docker.io', false],
  ];
  for (const [host, match] of table) {
    it(`${host} → ${match ? 'the job token' : 'anonymous'}`, async () => {
      const auth = await gitlabKeychain({ env }).resolve(host);
      if (!match) return assert.equal(auth, anonymous);
      assert.deepEqual(await auth.authorization(), { username: 'gitlab-ci-token', password: 'job-token' });
    });
  }
  it('accepts CI_REGISTRY written as a URL, and needs all three variables', async () => {
    assert.notEqual(await gitlabKeychain({ env: { ...env, CI_REGISTRY: 'https://registry.gitlab.example:5050/' } }).resolve('registry.gitlab.example:5050'), anonymous);
    assert.equal(await gitlabKeychain({ env: { ...env, CI_REGISTRY_PASSWORD: '' } }).resolve('registry.gitlab.example:5050'), anonymous);
    assert.equal(await gitlabKeychain({ env: {} }).resolve('registry.gitlab.example:5050'), anonymous);
  });
  it('maps Docker Hub aliases like config.json does', async () => {
    const auth = await gitlabKeychain({ env: { ...env, CI_REGISTRY: 'docker.io' } }).resolve('index.docker.io');
    assert.notEqual(auth, anonymous);
  });
});
