// Faults a real registry cannot be made to produce, injected by an in-process proxy in front of the real one.
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
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

  /** A context of its own (so every push uploads a new layer) and a build through the proxy to `tag`. */
  async function freshBuild(tag: string, extra: string[] = [], onSpawn?: (child: ChildProcess) => void) {
    const ctx = join(work, `ctx-${tag}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${proxy.host}/busybox:latest\nCOPY big.bin /big.bin\n`);
    await writeFile(join(ctx, 'big.bin'), Buffer.alloc(2 << 20, `${tag} `));
    return runExecutor([
      `--context=dir://${ctx}`, `--destination=${proxy.host}/faults/chaos:${tag}`, `--root-dir=${join(work, `root-${n++}`)}`,
      '--insecure', '--insecure-pull', '--log-format=text', ...extra,
    ], { timeoutMs: 240_000, ...(onSpawn !== undefined ? { onSpawn } : {}) });
  }

  /** True when the tag resolves to a manifest whose every blob is there and matches its digest (skopeo verifies). */
  async function verified(tag: string): Promise<boolean> {
    const out = join(work, `verify-${tag}`);
    try {
      await promisify(execFile)('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/faults/chaos:${tag}`, `oci:${out}:x`]);
      return true;
    } catch {
      return false;
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }

  const tagExists = async (tag: string): Promise<boolean> => {
    const tags: string[] = await readdir(join(registry.dataDir, 'docker/registry/v2/repositories/faults/chaos/_manifests/tags')).catch(() => []);
    return tags.includes(tag);
  };

  test('ten pushes under seeded faults (500/503 ± Retry-After, resets, stalls, truncated bodies) succeed verified or fail cleanly', async (t) => {
    const seed = Number(process.env['FAULT_SEED'] ?? 20261206);
    const fraction = Number(process.env['FAULT_FRACTION'] ?? 0.15);
    const start = proxy.log.length;
    proxy.chaos = { seed, fraction };
    const outcomes: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const tag = `c${i}`;
        const run = await freshBuild(tag, ['--push-retry=3', '--image-download-retry=3']);
        if (run.code === 0) {
          assert.ok(await verified(tag), `push ${i} reported success: the image must verify\n${run.stderr}`);
          outcomes.push('ok');
        } else {
          const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
          assert.equal(errors.length, 1, `push ${i} failed: one error line\n${run.stderr}`);
          assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
          assert.doesNotMatch(errors[0] ?? '', /internal error/, errors[0]);
          if (await tagExists(tag)) assert.ok(await verified(tag), `push ${i} failed but left a tag: it must point at a whole image`);
          outcomes.push(`failed: ${errors[0]}`);
        }
      }
    } finally {
      proxy.chaos = undefined;
    }
    const faults = proxy.log.slice(start).filter((e) => e.fault !== undefined);
    const byKind = new Map<string, number>();
    for (const f of faults) byKind.set(f.fault ?? '', (byKind.get(f.fault ?? '') ?? 0) + 1);
    t.diagnostic(`seed ${seed}, fraction ${fraction}: ${proxy.log.length - start} requests, ${faults.length} faults ${JSON.stringify(Object.fromEntries(byKind))}; ` +
      `${outcomes.filter((o) => o === 'ok').length}/10 pushed and verified; ${outcomes.filter((o) => o !== 'ok').join(' | ')}`);
    assert.ok(faults.length > 0, 'the faults fired');
  });

  test('a push killed with SIGKILL in the middle of an upload succeeds when run again', async () => {
    proxy.plan.push({ kind: 'stall', method: 'PUT', path: /\/faults\/chaos\/blobs\/uploads\//, ms: 20_000, times: 1 });
    proxy.plan.push({ kind: 'stall', method: 'PATCH', path: /\/faults\/chaos\/blobs\/uploads\//, ms: 20_000, times: 1 });
    const start = proxy.log.length;
    const killed = await freshBuild('killed', [], (child) => {
      const poll = setInterval(() => {
        if (proxy.log.slice(start).some((e) => e.fault === 'stall')) { clearInterval(poll); child.kill('SIGKILL'); }
      }, 50);
      child.on('exit', () => clearInterval(poll));
    });
    for (const rule of proxy.plan) rule.times = 0;
    assert.notEqual(killed.code, 0);
    assert.equal(await tagExists('killed'), false, 'nothing tagged by the killed run');
    const again = await freshBuild('killed');
    assert.equal(again.code, 0, again.stderr);
    assert.ok(await verified('killed'));
  });
});
