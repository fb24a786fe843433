// The target stage's layers are uploaded while the build goes on (src/pipeline/publish.ts earlyLayerUploads): each blob
// goes up once, before the push at the end, and a build that fails after a layer was uploaded tags nothing.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage, skopeoInspect } from '../support/run-image.ts';

describe('early layer uploads', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    proxy = await startFaultProxy(registry.url);
    work = await mkdtemp(join(tmpdir(), 'e2e-early-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
    await writeFile(join(work, 'big.bin'), Buffer.alloc(2 << 20, 'early upload '));
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  let n = 0;
  const build = async (dockerfile: string, tag: string) => {
    await writeFile(join(work, `Dockerfile-${n}`), dockerfile);
    return runExecutor([
      `--context=dir://${work}`, `--dockerfile=${join(work, `Dockerfile-${n}`)}`, `--destination=${proxy.host}/early/app:${tag}`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull', '--log-format=json', '--verbosity=debug',
    ]);
  };
  const lines = (stderr: string): { msg: string; digest?: string }[] =>
    stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; digest?: string });

  test('a layer is uploaded while a later step runs, and only once', async () => {
    const run = await build(`FROM ${proxy.host}/busybox:latest\nCOPY big.bin /big.bin\nRUN sleep 3 && echo done > /done\n`, 'ok');
    assert.equal(run.code, 0, run.stderr);
    const log = lines(run.stderr);
    const copyLayer = log.find((l) => l.msg === 'Layer snapshot');
    assert.ok(copyLayer?.digest !== undefined, 'the COPY layer was logged');
    const uploaded = log.findIndex((l) => l.msg === 'Uploaded blob' && l.digest === copyLayer.digest);
    const runDone = log.findIndex((l) => l.msg === 'Filesystem walked');
    assert.ok(uploaded >= 0 && uploaded < runDone, 'the COPY layer was uploaded during the RUN step (3 s of sleep)');
    // One upload per new blob: COPY layer, RUN layer, config.
    const puts = proxy.log.filter((e) => e.method === 'PUT' && e.path.includes('/early/app/blobs/uploads/'));
    const digests = puts.map((e) => new URL(e.path, 'http://x').searchParams.get('digest'));
    assert.equal(new Set(digests).size, digests.length, `no blob uploaded twice: ${digests.join(' ')}`);
    assert.equal(digests.length, 3);
    const { stdout } = await runImage(`docker://${registry.host}/early/app:ok`, { args: ['cat', '/done'] });
    assert.equal(stdout, 'done\n');
  });

  test('a build failing after an uploaded layer pushes no manifest', async () => {
    const run = await build(`FROM ${proxy.host}/busybox:latest\nCOPY big.bin /big2.bin\nRUN sleep 2 && exit 3\n`, 'failed');
    assert.notEqual(run.code, 0);
    assert.ok(!proxy.log.some((e) => e.method === 'PUT' && e.path.includes('/early/app/manifests/failed')), 'no manifest put');
    await assert.rejects(skopeoInspect(`docker://${registry.host}/early/app:failed`, ['--tls-verify=false']));
  });
});
