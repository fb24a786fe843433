// Issue 4's acceptance, end to end: a context tarball in S3 (the s3rver server), Azure Blob (the
// Azurite emulator) and GCS (a labelled test double of the JSON API) is built by bin/executor with a
// Dockerfile that COPYs from it, pushed to a real registry, and the pushed layers hold the files.
// Failures (missing bucket/object/container, bad credentials, corrupt gzip) give exit 1, one
// `error:` line naming the source, no secret anywhere in the output, and nothing pushed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createGunzip, gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { azuriteKey, startAzurite, type TestAzurite } from '../support/azurite-server.ts';
import { runExecutor, type ExecutorRun } from '../support/executor-process.ts';
import { tarOf } from '../support/fixture-image.ts';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { startS3, type TestS3 } from '../support/s3-server.ts';

const run = promisify(execFile);

// A unique Dockerfile name: a relative --dockerfile is tried in the current directory first.
const dockerfileName = 'storage-ctx.Dockerfile';
const contextFiles = [
  { name: dockerfileName, content: 'FROM scratch\nCOPY app/ /app/\nCOPY top.txt /top.txt\n' },
  { name: 'app/hello.txt', content: 'hello from the bucket\n' },
  { name: 'app/sub/deep.txt', content: 'deep\n' },
  { name: 'top.txt', content: 'top\n' },
];
const expectedFiles = { 'app/hello.txt': 'hello from the bucket\n', 'app/sub/deep.txt': 'deep\n', 'top.txt': 'top\n' };

/** Regular files (path → content) across all layers of a pushed image, read back with skopeo. */
async function pushedFiles(ref: string, work: string): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(work, 'pulled-'));
  await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `dir:${dir}`]);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  const files: Record<string, string> = {};
  for (const layer of manifest.layers) {
    const extract = tarStream.extract();
    Readable.from(await readFile(join(dir, layer.digest.replace('sha256:', '')))).pipe(createGunzip()).pipe(extract);
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === 'file') files[entry.header.name.replace(/^\.?\//, '')] = Buffer.concat(chunks).toString();
    }
  }
  return files;
}

/** The tags a repository holds, or [] when the registry does not know it (nothing was pushed). */
async function tagsOf(registry: TestRegistry, repo: string): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

function assertOneContextError(r: ExecutorRun, pattern: RegExp, secrets: readonly string[]): void {
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0] ?? '', pattern);
  for (const s of secrets) {
    assert.ok(!r.stderr.includes(s) && !r.stdout.includes(s), `secret ${s.slice(0, 4)}… leaked:\n${r.stderr}`);
  }
}

describe('build contexts from object storage', () => {
  let registry: TestRegistry;
  let s3: TestS3;
  let az: TestAzurite;
  let gcs: GcsDouble;
  let work: string;
  let tgz: Buffer;
  let corrupt: Buffer;
  let runs = 0;

  before(async () => {
    [registry, s3, az, gcs] = await Promise.all([startRegistry({ auth: 'none' }), startS3(), startAzurite(), startGcsDouble()]);
    work = await mkdtemp(join(tmpdir(), 'e2e-context-storage-'));
    tgz = gzipSync(await tarOf(contextFiles));
    corrupt = Buffer.concat([tgz.subarray(0, 40), Buffer.alloc(300, 7)]);
    await s3.createBucket('ctx');
    await s3.putObject('ctx', 'context.tar.gz', tgz);
    await s3.putObject('ctx', 'corrupt.tar.gz', corrupt);
    await az.createContainer('ctx');
    await az.uploadBlob('ctx', 'builds/context.tar.gz', tgz);
    await az.uploadBlob('ctx', 'corrupt.tar.gz', corrupt);
    gcs.createBucket('ctx');
    gcs.putObject('ctx', 'context.tar.gz', tgz);
    gcs.putObject('ctx', 'corrupt.tar.gz', corrupt);
  });
  after(async () => {
    await Promise.allSettled([registry?.stop(), s3?.stop(), az?.stop(), gcs?.stop()]);
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  /** One executor run against `context`, pushing to <registry>/<repo>:latest. */
  function build(context: string, repo: string, env: Record<string, string>): Promise<ExecutorRun> {
    runs += 1;
    return runExecutor([
      `--context=${context}`, `--dockerfile=${dockerfileName}`, `--destination=${registry.host}/${repo}:latest`,
      `--root-dir=${join(work, `root-${runs}`)}`, '--insecure', '--log-format=text',
    ], { env, timeoutMs: 120_000 });
  }

  async function assertBuiltAndPushed(context: string, repo: string, env: Record<string, string>): Promise<void> {
    const r = await build(context, repo, env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await pushedFiles(`${registry.host}/${repo}:latest`, work), expectedFiles);
  }

  async function assertFailsCleanly(context: string, repo: string, env: Record<string, string>, pattern: RegExp, secrets: readonly string[]): Promise<void> {
    const r = await build(context, repo, env);
    assertOneContextError(r, pattern, secrets);
    assert.deepEqual(await tagsOf(registry, repo), [], 'nothing pushed');
  }

  describe('s3:// (s3rver, S3_ENDPOINT + S3_FORCE_PATH_STYLE)', () => {
    test('a bucket-only context fetches context.tar.gz and the image holds its files', async () => {
      await assertBuiltAndPushed('s3://ctx', 's3-ok', s3.env);
    });
    test('a missing bucket', async () => {
      await assertFailsCleanly('s3://nope/context.tar.gz', 's3-no-bucket', s3.env, /s3:\/\/nope\/context\.tar\.gz: the bucket does not exist/, []);
    });
    test('a missing object', async () => {
      await assertFailsCleanly('s3://ctx/absent.tar.gz', 's3-no-object', s3.env, /s3:\/\/ctx\/absent\.tar\.gz: the object does not exist/, []);
    });
    test('bad credentials', async () => {
      const env = { ...s3.env, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNKEY', AWS_SECRET_ACCESS_KEY: 'e2e-wrong-secret-Z9x8' };
      await assertFailsCleanly('s3://ctx', 's3-bad-creds', env, /s3:\/\/ctx\/context\.tar\.gz: .*bad credentials/, ['e2e-wrong-secret-Z9x8']);
    });
    test('a corrupt gzip', async () => {
      await assertFailsCleanly('s3://ctx/corrupt.tar.gz', 's3-corrupt', s3.env, /s3:\/\/ctx\/corrupt\.tar\.gz/, []);
    });
  });

  describe('Azure Blob (Azurite, AZURE_STORAGE_ACCESS_KEY or a SAS token)', () => {
    const keyEnv = (): Record<string, string> => ({ AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint, AZURE_STORAGE_ACCESS_KEY: azuriteKey });
    test('with the shared key', async () => {
      await assertBuiltAndPushed(az.contextUrl('ctx', 'builds/context.tar.gz'), 'az-key', keyEnv());
    });
    test('with a SAS token in the URL and no key', async () => {
      const url = `${az.contextUrl('ctx', 'builds/context.tar.gz')}?${az.sasFor('ctx', 'builds/context.tar.gz')}`;
      await assertBuiltAndPushed(url, 'az-sas', { AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint });
    });
    test('a missing container', async () => {
      await assertFailsCleanly(az.contextUrl('nope', 'context.tar.gz'), 'az-no-container', keyEnv(), /blob\.core\.windows\.net\/nope\/context\.tar\.gz: the container does not exist/, [azuriteKey]);
    });
    test('a wrong key', async () => {
      const badKey = Buffer.from('e2e-not-the-account-key-0123456789abcdef').toString('base64');
      await assertFailsCleanly(az.contextUrl('ctx', 'builds/context.tar.gz'), 'az-bad-key', { ...keyEnv(), AZURE_STORAGE_ACCESS_KEY: badKey }, /blob\.core\.windows\.net\/ctx\/builds\/context\.tar\.gz: .*HTTP 403/, [badKey]);
    });
    test('a SAS token that does not verify is redacted', async () => {
      const sas = az.sasFor('ctx', 'builds/context.tar.gz').replace(/sig=[^&]+/, 'sig=ZTJlLWZvcmdlZC1zaWduYXR1cmU%3D');
      await assertFailsCleanly(`${az.contextUrl('ctx', 'builds/context.tar.gz')}?${sas}`, 'az-bad-sas', { AZURE_STORAGE_BLOB_ENDPOINT: az.endpoint }, /context\.tar\.gz\?\*\*\*: .*HTTP 403/, ['ZTJlLWZvcmdlZC1zaWduYXR1cmU', 'sig=']);
    });
    test('a corrupt gzip', async () => {
      await assertFailsCleanly(az.contextUrl('ctx', 'corrupt.tar.gz'), 'az-corrupt', keyEnv(), /blob\.core\.windows\.net\/ctx\/corrupt\.tar\.gz/, [azuriteKey]);
    });
  });

  describe('gs:// (GCS JSON API test double via STORAGE_EMULATOR_HOST)', () => {
    const env = (): Record<string, string> => ({ STORAGE_EMULATOR_HOST: gcs.endpoint });
    test('a bucket-only context fetches context.tar.gz and the image holds its files', async () => {
      await assertBuiltAndPushed('gs://ctx', 'gs-ok', env());
    });
    test('a missing bucket', async () => {
      await assertFailsCleanly('gs://nope', 'gs-no-bucket', env(), /gs:\/\/nope\/context\.tar\.gz: not found/, []);
    });
    test('a missing object', async () => {
      await assertFailsCleanly('gs://ctx/absent.tar.gz', 'gs-no-object', env(), /gs:\/\/ctx\/absent\.tar\.gz: not found/, []);
    });
    test('a corrupt gzip', async () => {
      await assertFailsCleanly('gs://ctx/corrupt.tar.gz', 'gs-corrupt', env(), /gs:\/\/ctx\/corrupt\.tar\.gz/, []);
    });
  });
});
