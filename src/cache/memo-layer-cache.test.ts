import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layerMemo } from './memo-layer-cache.ts';
import type { LayerCache } from './layer-cache.ts';
import type { Layer } from '../oci/image.ts';

const layer = (name: string): Layer => ({ name } as unknown as Layer);

test('layerMemo: every cache made from it answers from the puts of any, then asks its own inner cache', async () => {
  const innerPuts: string[] = [];
  const inner: LayerCache = {
    get: async (key) => (key === 'remote' ? { layer: layer('r') } : undefined),
    put: async (key) => { innerPuts.push(key); },
  };
  const memo = layerMemo();
  const first = memo.cache(inner);
  assert.equal(await first.get('k'), undefined);
  await first.put('k', layer('a'), { created_by: 'RUN a' });
  const second = memo.cache();
  assert.deepEqual(await second.get('k'), { layer: layer('a'), history: { created_by: 'RUN a' } });
  assert.deepEqual(await first.get('remote'), { layer: layer('r') });
  assert.equal(await second.get('remote'), undefined);
  assert.deepEqual(innerPuts, ['k']);
  assert.equal(memo.hits(), 1);
});
