// Issue 2's acceptance, end to end against the real Docker distribution registry: examples/hello is built on a
// busybox base, pushed, inspected with skopeo, unpacked with umoci and run with runc; local outputs agree.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { projectRoot, runExecutor } from '../support/executor-process.ts';
import { startRegistry } from '../support/registry-server.ts';
import { runImage, skopeoConfig, skopeoInspect } from '../support/run-image.ts';

describe('examples/hello on a plain registry', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let work: string;
  let run: Awaited<ReturnType<typeof runExecutor>>;
  const out = (name: string): string => join(work, name);

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-hello-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
    run = await runExecutor([
      `--context=dir://${join(projectRoot, 'examples', 'hello')}`,
      `--build-arg=BASE=${registry.host}/busybox:latest`,
      `--destination=${registry.host}/hello:latest`,
      `--destination=${registry.host}/hello:v1`,
      `--root-dir=${out('root')}`,
      `--tar-path=${out('hello.tar')}`,
      `--oci-layout-path=${out('oci')}`,
      `--digest-file=${out('digest')}`,
      `--image-name-with-digest-file=${out('names')}`,
      `--image-name-tag-with-digest-file=${out('name-tags')}`,
      '--label=built.by=e2e',
      '--insecure', '--insecure-pull', '--log-format=text',
    ]);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('the build succeeds', () => {
    assert.equal(run.code, 0, run.stderr);
  });

  test('the registry holds the image under every destination, with the digest of --digest-file', async () => {
    const digest = (await readFile(out('digest'), 'utf8')).trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    for (const tag of ['latest', 'v1']) {
      const info = await skopeoInspect(`docker://${registry.host}/hello:${tag}`, ['--tls-verify=false']);
      assert.equal(info['Digest'], digest);
    }
    assert.equal(await readFile(out('names'), 'utf8'), `${registry.host}/hello@${digest}\n${registry.host}/hello@${digest}\n`);
    assert.equal(await readFile(out('name-tags'), 'utf8'), `${registry.host}/hello:latest@${digest}\n${registry.host}/hello:v1@${digest}\n`);
  });

  test('the config carries ENV, WORKDIR, CMD, labels and one history entry per instruction', async () => {
    const config = await skopeoConfig(`docker://${registry.host}/hello:latest`, ['--tls-verify=false']);
    const c = config['config'] as Record<string, unknown>;
    assert.deepEqual(c['Cmd'], ['/bin/sh', '/app/hello.sh']);
    assert.equal(c['WorkingDir'], '/app');
    assert.ok((c['Env'] as string[]).includes('GREETING=Hello from kaniko-ts'));
    assert.deepEqual(c['Labels'], { 'org.opencontainers.image.title': 'hello', 'built.by': 'e2e' });
    const history = config['history'] as { created_by?: string; empty_layer?: boolean }[];
    const ours = history.slice(-5).map((h) => h.created_by);
    assert.deepEqual(ours, [
      'LABEL org.opencontainers.image.title="hello"', 'ENV GREETING="Hello from kaniko-ts"', 'WORKDIR /app', 'COPY hello.sh ./',
      'CMD ["/bin/sh", "/app/hello.sh"]',
    ]);
    const rootfs = config['rootfs'] as { diff_ids: string[] };
    assert.equal(rootfs.diff_ids.length, history.filter((h) => h.empty_layer !== true).length);
  });

  test('the pushed image runs under runc and prints its greeting', async () => {
    const { stdout } = await runImage(`docker://${registry.host}/hello:latest`);
    assert.match(stdout, /Hello from kaniko-ts/);
    assert.match(stdout, /running in \/app/);
  });

  test('--tar-path writes a docker-save archive skopeo reads', async () => {
    const info = await skopeoInspect(`docker-archive:${out('hello.tar')}`);
    // skopeo names a docker-archive's layers by diffID (the uncompressed digest).
    const config = await skopeoConfig(`docker://${registry.host}/hello:latest`, ['--tls-verify=false']);
    assert.deepEqual(info['Layers'], (config['rootfs'] as { diff_ids: string[] }).diff_ids);
    const { stdout } = await runImage(`docker-archive:${out('hello.tar')}`);
    assert.match(stdout, /Hello from kaniko-ts/);
  });

  test('--oci-layout-path writes an OCI layout with the same image', async () => {
    const info = await skopeoInspect(`oci:${out('oci')}`);
    assert.equal(info['Digest'], (await readFile(out('digest'), 'utf8')).trim());
    const { stdout } = await runImage(`oci:${out('oci')}`);
    assert.match(stdout, /Hello from kaniko-ts/);
  });

  test('the root directory is left holding the final filesystem', async () => {
    assert.match(await readFile(out('root/app/hello.sh'), 'utf8'), /GREETING/);
  });
});
