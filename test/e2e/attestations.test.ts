// Issue 15 item 5 end to end on the real registry: --metadata-file as buildx writes it, read against what skopeo sees.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { projectRoot, runExecutor } from '../support/executor-process.ts';
import { startRegistry } from '../support/registry-server.ts';

const exec = promisify(execFile);

describe('--metadata-file', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let work: string;
  const out = (name: string): string => join(work, name);
  const build = (extra: string[]): ReturnType<typeof runExecutor> => runExecutor([
    `--context=dir://${join(projectRoot, 'examples', 'hello')}`,
    `--build-arg=BASE=${registry.host}/busybox:latest`,
    '--insecure', '--insecure-pull', '--log-format=text', ...extra,
  ]);

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-attest-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('after a push: the pushed manifest digest, its descriptor, the config digest and every destination', async () => {
    const run = await build([
      `--destination=${registry.host}/meta:latest`, `--destination=${registry.host}/meta:v1`,
      `--root-dir=${out('root1')}`, `--metadata-file=${out('sub/meta.json')}`, `--digest-file=${out('digest')}`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const meta = JSON.parse(await readFile(out('sub/meta.json'), 'utf8')) as Record<string, unknown>;
    const { stdout: raw } = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/meta:latest`], { encoding: 'buffer' });
    const rawBytes = Buffer.from(raw);
    const digest = 'sha256:' + createHash('sha256').update(rawBytes).digest('hex');
    const manifest = JSON.parse(rawBytes.toString('utf8')) as { mediaType: string; config: { digest: string } };
    assert.equal((await readFile(out('digest'), 'utf8')).trim(), digest);
    assert.deepEqual(meta, {
      'containerimage.config.digest': manifest.config.digest,
      'containerimage.descriptor': { mediaType: manifest.mediaType, digest, size: rawBytes.byteLength },
      'containerimage.digest': digest,
      'image.name': `${registry.host}/meta:latest,${registry.host}/meta:v1`,
    });
  });

  test('with --no-push: the same keys without image.name', async () => {
    const run = await build(['--no-push', `--root-dir=${out('root2')}`, `--metadata-file=${out('nopush.json')}`, `--digest-file=${out('digest2')}`]);
    assert.equal(run.code, 0, run.stderr);
    const meta = JSON.parse(await readFile(out('nopush.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(meta).sort(), ['containerimage.config.digest', 'containerimage.descriptor', 'containerimage.digest']);
    assert.equal(meta['containerimage.digest'], (await readFile(out('digest2'), 'utf8')).trim());
    assert.match(String(meta['containerimage.config.digest']), /^sha256:[0-9a-f]{64}$/);
  });
});
