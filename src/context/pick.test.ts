import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BuildError } from '../errors.ts';
import { pickContextSource } from './pick.ts';

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
  it('remote schemes are recognised but not supported yet', () => {
    for (const [spec, prefix] of [
      ['tar://ctx.tar.gz', 'tar://'],
      ['s3://bucket/ctx.tar.gz', 's3://'],
      ['gs://bucket/ctx.tar.gz', 'gs://'],
      ['git://github.com/o/r.git#refs/heads/main', 'git://'],
      ['https://example.com/ctx.tar.gz', 'https://'],
      ['https://acct.blob.core.windows.net/c/ctx.tar.gz', 'Azure'],
    ] as const) {
      assert.throws(() => pickContextSource(spec), isCode('NOT_SUPPORTED', prefix), spec);
    }
  });
  it('an unknown prefix is refused without leaking credentials', () => {
    assert.throws(() => pickContextSource('ftp://user:secret@host/x'), (e: unknown) =>
      isCode('CONTEXT', 'unknown build context prefix')(e) && !(e as Error).message.includes('secret'));
  });
});
