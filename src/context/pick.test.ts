import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BuildError } from '../errors.ts';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { pickContextSource as pick } from './pick.ts';
import type { ContextDeps } from './source.ts';

const deps: ContextDeps = { env: {}, stdin: Readable.from([]), git: {}, log: pino({ level: 'silent' }) };
const pickContextSource = (spec: string) => pick(spec, deps);

function isCode(code: string, text?: string) {
  return (e: unknown) => e instanceof BuildError && e.code === code && (text === undefined || e.message.includes(text));
}

describe('pickContextSource', () => {
  let tmp = '';
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ctx-pick-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('a plain path and dir:// are local directories', async () => {
    const signal = new AbortController().signal;
    assert.equal(pickContextSource(tmp).scheme, 'dir');
    assert.equal(await pickContextSource(tmp).fetch(tmp, signal), tmp);
    assert.equal(await pickContextSource(`dir://${tmp}`).fetch(tmp, signal), tmp);
  });
  it('a missing directory is a CONTEXT error naming the path', async () => {
    const missing = path.join(tmp, 'nope');
    await assert.rejects(pickContextSource(missing).fetch(tmp, new AbortController().signal), isCode('CONTEXT', missing));
  });
  it('a file is not a context directory', async () => {
    const file = path.join(tmp, 'f');
    await writeFile(file, 'x');
    await assert.rejects(pickContextSource(`dir://${file}`).fetch(tmp, new AbortController().signal), isCode('CONTEXT', 'not a directory'));
  });
  it('an aborted signal stops the fetch', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(pickContextSource(tmp).fetch(tmp, ac.signal));
  });
  it('schemes pick their module; those not built yet say so', () => {
    assert.equal(pickContextSource('tar://ctx.tar.gz').scheme, 'tar');
    assert.equal(pickContextSource('tar://stdin').scheme, 'tar');
    assert.equal(pickContextSource('git://github.com/o/r.git#refs/heads/main').scheme, 'git');
    assert.equal(pickContextSource('https://example.com/ctx.tar.gz').scheme, 'https');
    assert.equal(pickContextSource('http://127.0.0.1:1/ctx.tar.gz').scheme, 'https');
    for (const [spec, prefix] of [
      ['s3://bucket/ctx.tar.gz', 's3://'],
      ['gs://bucket/ctx.tar.gz', 'gs://'],
      ['https://acct.blob.core.windows.net/c/ctx.tar.gz', 'Azure'],
    ] as const) {
      try {
        const s = pickContextSource(spec);
        assert.notEqual(s.scheme, 'https', spec);
      } catch (e) {
        assert.ok(isCode('NOT_SUPPORTED', prefix)(e), spec);
      }
    }
  });
  it('an unknown prefix is refused without leaking credentials', () => {
    assert.throws(() => pickContextSource('ftp://user:secret@host/x'), (e: unknown) =>
      isCode('CONTEXT', 'unknown build context prefix')(e) && !(e as Error).message.includes('secret'));
  });
});
