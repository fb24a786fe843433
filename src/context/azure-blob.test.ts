// Azure Blob contexts against the Azurite emulator (test/support/azurite-server.ts) via AZURE_STORAGE_BLOB_ENDPOINT.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { azuriteKey, startAzurite, type TestAzurite } from '../../test/support/azurite-server.ts';
import { tarOf } from '../../test/support/fixture-image.ts';
import { BuildError } from '../errors.ts';
import { azureBlobContextSource, parseAzureBlobUrl } from './azure-blob.ts';
import type { ContextDeps } from './source.ts';

const log = pino({ level: 'silent' });
const deps = (env: Record<string, string>): ContextDeps => ({ env, stdin: process.stdin, git: {}, log });
const badKey = Buffer.from('not-the-key-of-this-account-0123456789').toString('base64');

describe('parseAzureBlobUrl', () => {
  it('takes the account from the first host label, in every cloud kaniko knows', () => {
    for (const suffix of ['windows.net', 'chinacloudapi.cn', 'cloudapi.de', 'usgovcloudapi.net']) {
      const loc = parseAzureBlobUrl(`https://acct1.blob.core.${suffix}/c/dir/ctx.tar.gz`, {});
      assert.equal(loc.account, 'acct1');
      assert.equal(loc.requestUrl, `https://acct1.blob.core.${suffix}/c/dir/ctx.tar.gz`);
      assert.equal(loc.hasSas, false);
    }
  });
  it('moves container/blob?sas to AZURE_STORAGE_BLOB_ENDPOINT', () => {
    const loc = parseAzureBlobUrl('https://acct1.blob.core.windows.net/c/b.tgz?sv=1&sig=abc', { AZURE_STORAGE_BLOB_ENDPOINT: 'http://127.0.0.1:1/acct1/' });
    assert.equal(loc.requestUrl, 'http://127.0.0.1:1/acct1/c/b.tgz?sv=1&sig=abc');
    assert.equal(loc.hasSas, true);
  });
  it('refuses other hosts and URLs without a blob, redacting the SAS', () => {
    assert.throws(() => parseAzureBlobUrl('https://example.com/c/b?sig=SECRET', {}), (e: unknown) => e instanceof BuildError && e.code === 'CONTEXT' && !e.message.includes('SECRET'));
    assert.throws(() => parseAzureBlobUrl('https://acct.blob.core.windows.net/c', {}), /must name a container and a blob/);
  });
});

describe('azureBlobContextSource against Azurite', () => {
  let az: TestAzurite;
  let work: string;
  before(async () => {
    az = await startAzurite();
    work = await mkdtemp(join(tmpdir(), 'azure-context-'));
    const tgz = gzipSync(await tarOf([{ name: 'Dockerfile', content: 'FROM scratch\n' }, { name: 'app/hello.txt', content: 'hello from azure\n' }]));
    await az.createContainer('ctx');
    await az.uploadBlob('ctx', 'dir/context.tar.gz', tgz);
    await az.uploadBlob('ctx', 'corrupt.tar.gz', Buffer.concat([tgz.subarray(0, 40), Buffer.alloc(200, 7)]));
  });
  after(async () => {
    await az?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });
  const keyEnv = (): Record<string, string> => ({ AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint, AZURE_STORAGE_ACCESS_KEY: azuriteKey });

  it('downloads with the shared key from AZURE_STORAGE_ACCESS_KEY', async () => {
    const dir = await azureBlobContextSource(az.contextUrl('ctx', 'dir/context.tar.gz'), deps(keyEnv())).fetch(join(work, 'a'), AbortSignal.timeout(30_000));
    assert.equal(await readFile(join(dir, 'app', 'hello.txt'), 'utf8'), 'hello from azure\n');
  });

  it('downloads with a SAS token in the URL and no key', async () => {
    const url = `${az.contextUrl('ctx', 'dir/context.tar.gz')}?${az.sasFor('ctx', 'dir/context.tar.gz')}`;
    const dir = await azureBlobContextSource(url, deps({ AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint })).fetch(join(work, 'b'), AbortSignal.timeout(30_000));
    assert.equal(await readFile(join(dir, 'Dockerfile'), 'utf8'), 'FROM scratch\n');
  });

  const failures: readonly [string, () => [string, Record<string, string>], RegExp][] = [
    ['a missing container', () => [az.contextUrl('nope', 'context.tar.gz'), keyEnv()], /nope\/context\.tar\.gz: the container does not exist \(HTTP 404\)$/],
    ['a missing blob', () => [az.contextUrl('ctx', 'absent.tar.gz'), keyEnv()], /ctx\/absent\.tar\.gz: the blob does not exist \(HTTP 404\)$/],
    ['a wrong key', () => [az.contextUrl('ctx', 'dir/context.tar.gz'), { ...keyEnv(), AZURE_STORAGE_ACCESS_KEY: badKey }], /(authentication failed|not authorized) .*HTTP 403/],
    ['a forged SAS', () => [`${az.contextUrl('ctx', 'dir/context.tar.gz')}?${az.sasFor('ctx', 'dir/context.tar.gz').replace(/sig=[^&]+/, 'sig=Zm9yZ2VkLXNpZ25hdHVyZQ%3D%3D')}`, { AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint }], /(authentication failed|not authorized) .*HTTP 403/],
    ['no credentials at all', () => [az.contextUrl('ctx', 'dir/context.tar.gz'), { AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint }], /AZURE_STORAGE_ACCESS_KEY is not set/],
    ['an unreachable endpoint', () => [az.contextUrl('ctx', 'dir/context.tar.gz'), { ...keyEnv(), AZURE_STORAGE_BLOB_ENDPOINT: 'http://127.0.0.1:1/devstoreaccount1' }], /cannot reach 127\.0\.0\.1:1 \(ECONNREFUSED\)$/],
    ['a corrupt gzip', () => [az.contextUrl('ctx', 'corrupt.tar.gz'), keyEnv()], /ctx\/corrupt\.tar\.gz/],
  ];
  for (const [what, make, expected] of failures) {
    it(`fails with one CONTEXT line naming the source on ${what}`, async () => {
      const [url, env] = make();
      const err = await azureBlobContextSource(url, deps(env)).fetch(join(work, 'f'), AbortSignal.timeout(30_000)).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof BuildError, String(err));
      assert.equal(err.code, 'CONTEXT');
      assert.match(err.message, /^cannot fetch build context https:\/\/devstoreaccount1\.blob\.core\.windows\.net\/|https:\/\/devstoreaccount1\.blob\.core\.windows\.net\//);
      assert.match(err.message, expected);
      assert.doesNotMatch(err.message, /\n|sig=|Zm9yZ2Vk|Eby8vdM02/);
    });
  }
});
