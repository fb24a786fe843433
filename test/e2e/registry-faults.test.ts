// Faults a real registry cannot be made to produce, injected by an in-process proxy in front of the real one.
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

describe('registry faults', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    proxy = await startFaultProxy(registry.url);
    work = await mkdtemp(join(tmpdir(), 'e2e-faults-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
    await writeFile(join(work, 'Dockerfile'), `FROM ${proxy.host}/busybox:latest\nCOPY big.bin /big.bin\nCMD ["cat", "/big.bin"]\n`);
    await writeFile(join(work, 'big.bin'), Buffer.alloc(3 << 20, 'kaniko-ts '));
  });
  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  let n = 0;
  const build = (tag: string, extra: string[] = []) => runExecutor([
    `--context=dir://${work}`, `--destination=${proxy.host}/faults/app:${tag}`, `--root-dir=${join(work, `root-${n++}`)}`,
    '--insecure', '--insecure-pull', '--log-format=text', '--verbosity=debug', ...extra,
  ]);

  test('two 500s on the manifest push, then success, with --push-retry=3', async () => {
    proxy.plan.push({ kind: 'status', status: 500, method: 'PUT', path: /\/manifests\//, times: 2 });
    const run = await build('retry500', ['--push-retry=3']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(proxy.log.filter((e) => e.fault === 'status').length, 2);
    const info = await skopeoInspect(`docker://${registry.host}/faults/app:retry500`, ['--tls-verify=false']);
    assert.equal((info['Layers'] as string[]).length, 2);
  });

  test('the same faults without retries fail the push with a clear line', async () => {
    proxy.plan.push({ kind: 'status', status: 500, method: 'PUT', path: /\/manifests\//, times: 1 });
    const run = await build('noretry');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: .*500/m);
  });

  test('a connection reset in the middle of a blob upload is retried and the image is valid', async () => {
    proxy.plan.push({ kind: 'reset-request', method: 'PUT', path: /\/blobs\/uploads\//, afterBytes: 1 << 20, times: 1 });
    proxy.plan.push({ kind: 'reset-request', method: 'PATCH', path: /\/blobs\/uploads\//, afterBytes: 1 << 20, times: 1 });
    const run = await build('reset', ['--push-retry=2']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(proxy.log.some((e) => e.fault === 'reset-request'), 'the fault fired');
    const { stdout } = await runImage(`docker://${registry.host}/faults/app:reset`);
    assert.equal(stdout.length, 3 << 20);
  });

  test('a tampered base layer on pull fails with a digest error, and nothing is pushed', async () => {
    proxy.plan.push({ kind: 'tamper', method: 'GET', path: /\/busybox\/blobs\/sha256:/, times: 100 });
    try {
      const run = await build('tampered');
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /^error: .*(digest|mismatch)/im);
      await assert.rejects(skopeoInspect(`docker://${registry.host}/faults/app:tampered`, ['--tls-verify=false']));
    } finally {
      for (const rule of proxy.plan) rule.times = 0;
    }
  });
});
