// RUN --network and --mount=type=tmpfs through the executor with --root-dir on the busybox base.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoConfig } from '../support/run-image.ts';

describe('RUN flags', () => {
  let registry: TestRegistry;
  let work: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-run-flags-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string) {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', `${registry.host}/busybox:latest`));
    return runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/flags/${name}:latest`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull', '--log-format=text']);
  }

  test('--network=none sees only lo and cannot reach the registry; default and host can', async () => {
    // Debian's static busybox wget crashes; nc speaks enough HTTP.
    const [host, port] = registry.host.split(':');
    const get = `printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port} | head -1 | grep -q HTTP/`;
    const run = await build('network', [
      'FROM BASE',
      "RUN --network=none echo \"none: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')\"",
      `RUN --network=none if ${get}; then echo none-reached; else echo none-blocked; fi`,
      `RUN --network=default ${get} && echo default-reached`,
      `RUN --network=host --security=insecure ${get} && echo host-reached`,
      'RUN --security=sandbox true',
      '',
    ].join('\n'));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^none: lo $/m);
    assert.match(run.stdout, /^none-blocked$/m);
    assert.match(run.stdout, /^default-reached$/m);
    assert.match(run.stdout, /^host-reached$/m);
  });

  test('--mount=type=tmpfs is a tmpfs for that RUN; nothing of it reaches a layer', async () => {
    const run = await build('tmpfs', [
      'FROM BASE',
      'RUN --mount=type=tmpfs,target=/scratch/t,size=2m grep " /scratch/t tmpfs " /proc/mounts | cut -d" " -f2-3 && echo data > /scratch/t/file',
      'RUN --mount=type=tmpfs,target=/tmp echo data > /tmp/file',
      'RUN test ! -e /scratch && test ! -e /tmp/file && echo clean > /clean',
      '',
    ].join('\n'));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^\/scratch\/t tmpfs$/m);
    const config = await skopeoConfig(`docker://${registry.host}/flags/tmpfs:latest`, ['--tls-verify=false']);
    const ours = (config['history'] as { created_by: string; empty_layer?: boolean }[]).slice(-3);
    assert.deepEqual(ours.map((h) => h.empty_layer === true), [true, true, false], 'the tmpfs RUNs add no layer');
  });

  test('bad values and other mount types: one line naming Dockerfile:line', async () => {
    for (const [line, re] of [
      ['RUN --network=bridge true', /^error: .*Dockerfile:2: RUN --network=bridge: expected default, none or host$/m],
      ['RUN --security=weird true', /^error: .*Dockerfile:2: RUN --security=weird: expected sandbox or insecure$/m],
      ['RUN --mount=type=tmpfs,target=/t,colour=red true', /^error: .*Dockerfile:2: RUN --mount=type=tmpfs,target=\/t,colour=red: unexpected key 'colour' in 'colour=red'$/m],
      ['RUN --mount=type=cache,target=/c true', /^error: .*Dockerfile:2: RUN --mount=type=cache is not supported yet$/m],
    ] as const) {
      const run = await build(`bad-${n}`, `FROM BASE\n${line}\n`);
      assert.notEqual(run.code, 0, line);
      assert.match(run.stderr, re, run.stderr);
    }
  });
});
