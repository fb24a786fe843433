// gs:// contexts against the GCS JSON API test double (test/support/gcs-double.ts) via STORAGE_EMULATOR_HOST.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { tarOf } from '../../test/support/fixture-image.ts';
import { startGcsDouble, type GcsDouble } from '../../test/support/gcs-double.ts';
import { BuildError } from '../errors.ts';
import { gcsContextSource, gcsEmulatorEndpoint } from './gcs.ts';
import type { ContextDeps } from './source.ts';

const log = pino({ level: 'silent' });

describe('gcsEmulatorEndpoint', () => {
  it('reads STORAGE_EMULATOR_HOST with Go\'s default scheme http', () => {
    assert.equal(gcsEmulatorEndpoint({ STORAGE_EMULATOR_HOST: 'localhost:4443' }), 'http://localhost:4443');
    assert.equal(gcsEmulatorEndpoint({ STORAGE_EMULATOR_HOST: 'https://gcs.test/' }), 'https://gcs.test');
    assert.equal(gcsEmulatorEndpoint({}), undefined);
  });
});

describe('gcsContextSource against the GCS test double', () => {
  let gcs: GcsDouble;
  let work: string;
  let deps: ContextDeps;
  before(async () => {
    gcs = await startGcsDouble();
    work = await mkdtemp(join(tmpdir(), 'gcs-context-'));
    // Both spellings: a bare host:port (as Go users set it) must work too.
    deps = { env: { STORAGE_EMULATOR_HOST: gcs.endpoint.replace('http://', '') }, stdin: process.stdin, git: {}, log };
    const tgz = gzipSync(await tarOf([{ name: 'Dockerfile', content: 'FROM scratch\n' }, { name: 'app/hello.txt', content: 'hello from gcs\n' }]));
    gcs.createBucket('ctx');
    gcs.createBucket('private', { forbidden: true });
    gcs.putObject('ctx', 'context.tar.gz', tgz);
    gcs.putObject('ctx', 'dir/with space.tar.gz', tgz);
    gcs.putObject('ctx', 'corrupt.tar.gz', Buffer.concat([tgz.subarray(0, 40), Buffer.alloc(200, 7)]));
  });
  after(async () => {
    await gcs?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('downloads context.tar.gz when only a bucket is given, without credentials', async () => {
    const dir = await gcsContextSource('gs://ctx', deps).fetch(join(work, 'a'), AbortSignal.timeout(30_000));
    assert.equal(await readFile(join(dir, 'app', 'hello.txt'), 'utf8'), 'hello from gcs\n');
    assert.ok(gcs.requests.some((r) => r.url.startsWith('/storage/v1/b/ctx/o/context.tar.gz?') && r.url.includes('alt=media')));
    assert.ok(gcs.requests.every((r) => !r.authorized));
  });

  it('downloads a nested object whose name needs escaping', async () => {
    const dir = await gcsContextSource('gs://ctx/dir/with space.tar.gz', deps).fetch(join(work, 'b'), AbortSignal.timeout(30_000));
    assert.equal(await readFile(join(dir, 'Dockerfile'), 'utf8'), 'FROM scratch\n');
  });

  it('names the endpoint it cannot reach', async () => {
    const env = { STORAGE_EMULATOR_HOST: '127.0.0.1:1' };
    const err = await gcsContextSource('gs://ctx', { ...deps, env }).fetch(join(work, 'u'), AbortSignal.timeout(30_000)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BuildError, String(err));
    assert.match(err.message, /^cannot fetch build context gs:\/\/ctx\/context\.tar\.gz: cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)$/);
  });

  const failures: readonly [string, string, RegExp][] = [
    ['a missing bucket', 'gs://nope', /^cannot fetch build context gs:\/\/nope\/context\.tar\.gz: not found \(The specified bucket does not exist\.\)$/],
    ['a missing object', 'gs://ctx/absent.tar.gz', /^cannot fetch build context gs:\/\/ctx\/absent\.tar\.gz: not found \(No such object: ctx\/absent\.tar\.gz\)$/],
    ['refused access', 'gs://private/x.tar.gz', /^cannot fetch build context gs:\/\/private\/x\.tar\.gz: access denied/],
    ['a corrupt gzip', 'gs://ctx/corrupt.tar.gz', /gs:\/\/ctx\/corrupt\.tar\.gz/],
  ];
  for (const [what, url, expected] of failures) {
    it(`fails with one CONTEXT line naming the source on ${what}`, async () => {
      const err = await gcsContextSource(url, deps).fetch(join(work, 'f'), AbortSignal.timeout(30_000)).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof BuildError, String(err));
      assert.equal(err.code, 'CONTEXT');
      assert.match(err.message, expected);
      assert.doesNotMatch(err.message, /\n/);
    });
  }
});
