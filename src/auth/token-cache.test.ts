import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenCache } from './token-cache.ts';

describe('tokenCache', () => {
  it('shares one in-flight fetch, keeps the result until the margin, and does not cache failures', async () => {
    let clock = 0;
    let fetches = 0;
    const cache = tokenCache({ now: () => clock, marginMs: 10 });
    const fetch = async () => ({ config: { password: `t${++fetches}` }, expiresAt: 100 });
    const [a, b] = await Promise.all([cache.get('h', fetch), cache.get('h', fetch)]);
    assert.deepEqual([a, b, fetches], [{ password: 't1' }, { password: 't1' }, 1]);
    clock = 89;
    assert.deepEqual(await cache.get('h', fetch), { password: 't1' });
    clock = 90;
    assert.deepEqual(await cache.get('h', fetch), { password: 't2' });
    await assert.rejects(cache.get('x', () => Promise.reject(new Error('boom'))), /boom/);
    assert.deepEqual(await cache.get('x', fetch), { password: 't3' });
    assert.equal(await cache.get('y', async () => undefined), undefined);
  });
});
