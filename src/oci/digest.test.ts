import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.ts';
import { createDigester, digestHex, parseDigest, sha256Of, verifyingStream } from './digest.ts';

const HELLO = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

test('parseDigest accepts sha256 and rejects malformed strings with INVALID_JSON', () => {
  assert.equal(parseDigest(HELLO), HELLO);
  for (const bad of ['', 'sha256:abc', HELLO.toUpperCase(), 'sha512:' + 'a'.repeat(64), HELLO + ' ', 'md5:x']) {
    assert.throws(() => parseDigest(bad), (e: unknown) => e instanceof BuildError && e.code === 'INVALID_JSON', bad);
  }
});

test('sha256Of, createDigester and digestHex agree with node:crypto', () => {
  assert.equal(sha256Of('hello'), HELLO);
  assert.equal(sha256Of(new TextEncoder().encode('hello')), HELLO);
  const d = createDigester();
  d.update(new TextEncoder().encode('hel'));
  d.update(new TextEncoder().encode('lo'));
  assert.equal(d.bytes, 5);
  assert.equal(d.digest(), HELLO);
  assert.equal(d.digest(), HELLO, 'digest() is repeatable');
  assert.equal(digestHex(HELLO as ReturnType<typeof sha256Of>), createHash('sha256').update('hello').digest('hex'));
});

async function drain(chunks: string[], t: ReturnType<typeof verifyingStream>): Promise<string> {
  let out = '';
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), t, new Writable({
    write(chunk: Buffer, _e, cb): void { out += chunk.toString(); cb(); },
  }));
  return out;
}

test('verifyingStream passes matching content through', async () => {
  assert.equal(await drain(['hel', 'lo'], verifyingStream(parseDigest(HELLO), 5, 'blob x')), 'hello');
  assert.equal(await drain(['hello'], verifyingStream(parseDigest(HELLO), undefined, 'blob x')), 'hello');
});

test('verifyingStream errors with DIGEST_MISMATCH naming the blob', async () => {
  const cases: Array<[string[], number | undefined]> = [[['hellO'], 5], [['hello'], 4], [['hello'], 6], [['hell'], undefined]];
  for (const [chunks, size] of cases) {
    await assert.rejects(drain(chunks, verifyingStream(parseDigest(HELLO), size, 'blob of reg/repo')),
      (e: unknown) => e instanceof BuildError && e.code === 'DIGEST_MISMATCH' && e.message.includes('blob of reg/repo'));
  }
});
