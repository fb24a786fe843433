import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractFlags, parseFlags, parseJsonArray, splitWordsRaw } from './words.ts';
import { BuildError } from '../errors.ts';

test('splitWordsRaw keeps quotes and escapes (BuildKit parseWords)', () => {
  const cases: readonly (readonly [string, string, readonly string[]])[] = [
    ['a b  c', '\\', ['a', 'b', 'c']],
    ['a="x y" b=c\\ d', '\\', ['a="x y"', 'b=c\\ d']],
    ["a='x \\' y'", '\\', ["a='x \\'", 'y\'']],
    ['a="x \\" y"', '\\', ['a="x \\" y"']],
    ['e="" f', '\\', ['e=""', 'f']],
    ['""', '\\', ['""']],
    ['trailing\\', '\\', ['trailing']],
    ['a=b` c', '`', ['a=b` c']],
    ['  lead  ', '\\', ['lead']],
  ];
  for (const [input, escape, expected] of cases) assert.deepEqual(splitWordsRaw(input, escape), expected, input);
});

test('extractFlags takes leading --flags only', () => {
  assert.deepEqual(extractFlags('--from=a --chown="u g" src dst'), { flags: ['--from=a', '--chown=u g'], rest: 'src dst' });
  assert.deepEqual(extractFlags('src --from=a'), { flags: [], rest: 'src --from=a' });
  assert.deepEqual(extractFlags('--link'), { flags: ['--link'], rest: '' });
  assert.deepEqual(extractFlags('-- --notaflag x'), { flags: [], rest: '--notaflag x' });
  assert.deepEqual(extractFlags('--a=x\\ y b'), { flags: ['--a=x y'], rest: 'b' });
});

test('parseFlags validates against a spec', () => {
  const spec = { from: 'string', link: 'bool', exclude: 'strings' } as const;
  const f = parseFlags(['--from=x', '--link', '--exclude=a', '--exclude=b'], spec);
  assert.equal(f.strings.get('from'), 'x');
  assert.equal(f.bools.get('link'), true);
  assert.deepEqual(f.lists.get('exclude'), ['a', 'b']);
  assert.equal(parseFlags(['--link=FALSE'], spec).bools.get('link'), false);
  assert.throws(() => parseFlags(['--nope'], spec), (e: unknown) => e instanceof BuildError && /unknown flag: nope/.test(e.message));
  assert.throws(() => parseFlags(['--from'], spec), /missing a value on flag: from/);
  assert.throws(() => parseFlags(['--link='], spec), /missing a value on flag: link/);
  assert.throws(() => parseFlags(['--link', '--link'], spec), /duplicate flag specified: link/);
});

test('parseJsonArray: exec form or undefined (shell form)', () => {
  assert.deepEqual(parseJsonArray('["a", "b c"]'), ['a', 'b c']);
  assert.deepEqual(parseJsonArray('  ["\\u0041"]'), ['A']);
  assert.equal(parseJsonArray('echo ["a"]'), undefined);
  assert.equal(parseJsonArray("['a']"), undefined);
  assert.equal(parseJsonArray('["a"] trailing'), undefined);
  assert.throws(() => parseJsonArray('["a", 1]'), BuildError);
});
