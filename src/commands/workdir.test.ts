import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeWorkdir } from './workdir.ts';

describe('WORKDIR normalization (BuildKit NormalizeWorkdir)', () => {
  it('keeps an absolute path as written; joins and cleans a relative one', () => {
    assert.equal(normalizeWorkdir('', '/a/b/'), '/a/b/');
    assert.equal(normalizeWorkdir('/x', '/a/../b'), '/a/../b');
    assert.equal(normalizeWorkdir('/x', 'y/'), '/x/y');
    assert.equal(normalizeWorkdir('/x/', '../z/./'), '/z');
    assert.equal(normalizeWorkdir('', 'rel'), '/rel');
    assert.equal(normalizeWorkdir('rel', 'sub'), '/rel/sub');
  });
});
