import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigFile } from '../oci/types.ts';
import { runCacheInputs, type RunKeyContext } from '../commands/run.ts';
import { cacheKey } from './cache-key.ts';

const base = 'sha256:' + 'a'.repeat(64);

function image(config: ConfigFile['config'] = {}): ConfigFile {
  return { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } };
}

describe('cacheKey', () => {
  it('is lowercase sha256 hex and stable for the same inputs', () => {
    const k = cacheKey(base, ['RUN make', 'x']);
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.equal(cacheKey(base, ['RUN make', 'x']), k);
    assert.equal(cacheKey(base, ['RUN make', new TextEncoder().encode('x')]) === k, false, 'a string and the same bytes are different parts');
  });

  const differing: readonly [string, readonly (string | Uint8Array)[], string, readonly (string | Uint8Array)[]][] = [
    ['framing: ab|c vs a|bc', ['ab', 'c'], 'p', ['a', 'bc']],
    ['framing: one empty part vs none', [''], 'p', []],
    ['framing: bytes', [new Uint8Array([1, 2]), new Uint8Array([3])], 'p', [new Uint8Array([1]), new Uint8Array([2, 3])]],
    ['parent joins into parts', ['x'], 'px', []],
    ['order of parts', ['a', 'b'], 'p', ['b', 'a']],
  ];
  for (const [name, a, parentB, b] of differing) {
    it(`differs: ${name}`, () => {
      assert.notEqual(cacheKey('p', a), cacheKey(parentB, b));
    });
  }

  it('chains: a different parent (base digest or earlier key) gives a different key', () => {
    const k1 = cacheKey(base, ['COPY a /a']);
    const k2 = cacheKey('sha256:' + 'b'.repeat(64), ['COPY a /a']);
    assert.notEqual(k1, k2);
    assert.notEqual(cacheKey(k1, ['RUN x']), cacheKey(k2, ['RUN x']));
  });
});

describe('runCacheInputs', () => {
  const proc = { argv: ['/bin/sh', '-c', 'make'] };
  const ctx = (over: Partial<RunKeyContext> = {}): RunKeyContext => ({
    image: image({ Env: ['PATH=/bin', 'A=1'], User: 'app', WorkingDir: '/src' }), args: new Map([['V', '1']]), ...over,
  });
  const key = (c: RunKeyContext, p: { argv: readonly string[]; script?: string } = proc): string => cacheKey(base, ['RUN make', ...runCacheInputs(c, p)]);

  it('same inputs → same key; ENV order does not matter', () => {
    assert.equal(key(ctx()), key(ctx()));
    assert.equal(key(ctx()), key(ctx({ image: image({ Env: ['A=1', 'PATH=/bin'], User: 'app', WorkingDir: '/src' }) })));
  });

  it('an unused --build-arg is not an input (it is not in the ARG scope); a declared ARG is', () => {
    // The build loop hands RUN the declared ARGs only; --build-args never reach the key on their own.
    const withBuildArg = { ...ctx(), buildArgs: new Map([['UNUSED', 'x']]) };
    assert.equal(key(withBuildArg), key(ctx()));
    assert.notEqual(key(ctx({ args: new Map([['V', '2']]) })), key(ctx()));
    assert.notEqual(key(ctx({ args: new Map([['V', '1'], ['W', '']]) })), key(ctx()));
  });

  const changes: readonly [string, RunKeyContext, { argv: readonly string[]; script?: string }][] = [
    ['ENV value', ctx({ image: image({ Env: ['PATH=/bin', 'A=2'], User: 'app', WorkingDir: '/src' }) }), proc],
    ['USER', ctx({ image: image({ Env: ['PATH=/bin', 'A=1'], User: 'root', WorkingDir: '/src' }) }), proc],
    ['WORKDIR', ctx({ image: image({ Env: ['PATH=/bin', 'A=1'], User: 'app', WorkingDir: '/' }) }), proc],
    ['SHELL (argv)', ctx(), { argv: ['/bin/bash', '-c', 'make'] }],
    ['heredoc script', ctx(), { argv: ['/dev/pipes/EOF'], script: '#!/bin/sh\nmake\n' }],
  ];
  for (const [name, c, p] of changes) {
    it(`a changed ${name} changes the key`, () => assert.notEqual(key(c, p), key(ctx())));
  }

  it('ENV wins over an ARG of the same name, as in the process', () => {
    const shadowed = ctx({ args: new Map([['A', 'arg']]) });
    assert.equal(key(shadowed), key(ctx({ args: new Map([['A', 'other']]) })));
  });
});
