import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GlobSyntaxError, hasGlobMeta, matchGoGlob } from './glob.ts';

// Go's path/filepath match_test.go table (as carried in moby/patternmatcher).
const goMatchTests: ReadonlyArray<readonly [string, string, boolean | 'bad']> = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', false],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['[]a]', ']', 'bad'],
  ['[-]', '-', 'bad'],
  ['[x-]', 'x', 'bad'],
  ['[-x]', 'x', 'bad'],
  ['\\', 'a', 'bad'],
  ['[a-b-c]', 'a', 'bad'],
  ['[', 'a', 'bad'],
  ['[^', 'a', 'bad'],
  ['[^bc', 'a', 'bad'],
  ['a[', 'a', 'bad'],
  ['*x', 'xxx', true],
  ['file.(1)+$', 'file.(1)+$', true],
  ['[z-a]', 'm', false],
  // '-' outside a class is literal; a unicode-mode RegExp must not see an escaped hyphen.
  ['*-a', 'x-a', true],
  ['subdir-*', 'subdir-1', true],
  ['subdir-*', 'subdir1', false],
  ['a-b?c', 'a-bxc', true],
  ['[\\-]', '-', true],
  ['[a\\-z]', 'b', false],
  ['[^-]', '-', 'bad'],
  ['é-?', 'é-ü', true],
  ['[é-ü]x', 'ñx', true],
];

describe('matchGoGlob (Go filepath.Match)', () => {
  for (const [pattern, name, want] of goMatchTests) {
    it(`${pattern} vs ${name} → ${String(want)}`, () => {
      if (want === 'bad') assert.throws(() => matchGoGlob(pattern, name), GlobSyntaxError);
      else assert.equal(matchGoGlob(pattern, name), want);
    });
  }
});

describe('hasGlobMeta', () => {
  it('sees unescaped wildcards only', () => {
    assert.equal(hasGlobMeta('a*'), true);
    assert.equal(hasGlobMeta('a?'), true);
    assert.equal(hasGlobMeta('[ab]'), true);
    assert.equal(hasGlobMeta('plain.txt'), false);
    assert.equal(hasGlobMeta('a\\*b'), false);
  });
});
