// s3:// contexts against the s3rver npm server (test/support/s3-server.ts), in process.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { startS3, type TestS3 } from '../../test/support/s3-server.ts';
import { tarOf } from '../../test/support/fixture-image.ts';
import { BuildError } from '../errors.ts';
import { s3ClientConfig, s3ContextSource, splitBucketAndItem } from './s3.ts';
import type { ContextDeps } from './source.ts';

const log = pino({ level: 'silent' });

function deps(env: Record<string, string>): ContextDeps {
  return { env, stdin: process.stdin, git: {}, log };
}

describe('splitBucketAndItem (kaniko util.GetBucketAndItem)', () => {
  it('splits at the first slash and defaults the object to context.tar.gz', () => {
    assert.deepEqual(splitBucketAndItem('b/dir/ctx.tgz'), { bucket: 'b', item: 'dir/ctx.tgz' });
    assert.deepEqual(splitBucketAndItem('b'), { bucket: 'b', item: 'context.tar.gz' });
    assert.deepEqual(splitBucketAndItem('b/'), { bucket: 'b', item: 'context.tar.gz' });
  });
});

describe('s3ClientConfig', () => {
  it('honours S3_FORCE_PATH_STYLE only with S3_ENDPOINT, as kaniko', () => {
    assert.equal(s3ClientConfig({ S3_FORCE_PATH_STYLE: 'true' }).forcePathStyle, undefined);
    const c = s3ClientConfig({ S3_ENDPOINT: 'minio.local:9000', S3_FORCE_PATH_STYLE: 'true' });
    assert.equal(c.forcePathStyle, true);
    assert.equal(c.endpoint, 'https://minio.local:9000');
    assert.equal(c.region, 'us-east-1');
    assert.equal(s3ClientConfig({ S3_ENDPOINT: 'http://x', S3_FORCE_PATH_STYLE: 'TRUE' }).forcePathStyle, false);
  });
  it('takes static keys, the region and the profile from env only', () => {
    const c = s3ClientConfig({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_SESSION_TOKEN: 'T', AWS_DEFAULT_REGION: 'eu-west-1', AWS_PROFILE: 'p' });
    assert.deepEqual(c.credentials, { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'T' });
    assert.equal(c.region, 'eu-west-1');
    assert.equal(c.profile, 'p');
    assert.equal(s3ClientConfig({ AWS_ACCESS_KEY_ID: 'AK' }).credentials, undefined);
  });
});

// s3rver checks the access key id but does not verify SigV4 signatures, so a wrong secret key with
// a known key id cannot be tested here; an unknown key id stands for bad credentials.
describe('s3ContextSource against s3rver', () => {
  let s3: TestS3;
  let work: string;
  before(async () => {
    s3 = await startS3();
    work = await mkdtemp(join(tmpdir(), 's3-context-'));
    await s3.createBucket('ctx');
    const tgz = gzipSync(await tarOf([{ name: 'Dockerfile', content: 'FROM scratch\n' }, { name: 'app/hello.txt', content: 'hello from s3\n' }]));
    await s3.putObject('ctx', 'context.tar.gz', tgz);
    await s3.putObject('ctx', 'nested/other.tar.gz', tgz);
    await s3.putObject('ctx', 'corrupt.tar.gz', Buffer.concat([tgz.subarray(0, 40), Buffer.alloc(200, 7)]));
  });
  after(async () => {
    await s3?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('downloads context.tar.gz when only a bucket is given, and unpacks it', async () => {
    const dir = await s3ContextSource('s3://ctx', deps(s3.env)).fetch(join(work, 'a'), AbortSignal.timeout(30_000));
    assert.equal(await readFile(join(dir, 'app', 'hello.txt'), 'utf8'), 'hello from s3\n');
  });

  it('downloads a nested key', async () => {
    const dir = await s3ContextSource('s3://ctx/nested/other.tar.gz', deps(s3.env)).fetch(join(work, 'b'), AbortSignal.timeout(30_000));
    assert.equal(await readFile(join(dir, 'Dockerfile'), 'utf8'), 'FROM scratch\n');
  });

  const failures: readonly [string, string, Record<string, string>, RegExp][] = [
    ['a missing bucket', 's3://nope/context.tar.gz', {}, /^cannot fetch build context s3:\/\/nope\/context\.tar\.gz: the bucket does not exist \(HTTP 404\)$/],
    ['a missing object', 's3://ctx/absent.tar.gz', {}, /^cannot fetch build context s3:\/\/ctx\/absent\.tar\.gz: the object does not exist \(HTTP 404\)$/],
    ['an unknown access key', 's3://ctx', { AWS_ACCESS_KEY_ID: 'WRONGKEY', AWS_SECRET_ACCESS_KEY: 'wrong-secret-123' }, /s3:\/\/ctx\/context\.tar\.gz: .*bad credentials.*HTTP 403/],
    ['an unreachable endpoint', 's3://ctx', { S3_ENDPOINT: 'http://127.0.0.1:1' }, /^cannot fetch build context s3:\/\/ctx\/context\.tar\.gz: cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)$/],
    ['a corrupt gzip', 's3://ctx/corrupt.tar.gz', {}, /s3:\/\/ctx\/corrupt\.tar\.gz/],
  ];
  for (const [what, url, env, expected] of failures) {
    it(`fails with one CONTEXT line naming the source on ${what}`, async () => {
      const err = await s3ContextSource(url, deps({ ...s3.env, ...env })).fetch(join(work, 'f'), AbortSignal.timeout(30_000)).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof BuildError, String(err));
      assert.equal(err.code, 'CONTEXT');
      assert.match(err.message, expected);
      assert.doesNotMatch(err.message, /\n|wrong-secret-123|S3RVER/);
    });
  }
});
