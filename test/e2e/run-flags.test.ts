// RUN --network and --mount=type=tmpfs through the executor with --root-dir on the busybox base.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { contextBuilds } from '../support/executor-process.ts';
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

  const build = contextBuilds({ work: () => work, registryHost: () => registry.host, repo: 'flags', base: () => `${registry.host}/busybox:latest` });

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

  test('--mount=type=secret: file (mode, uid, gid, default target), env, optional skipped; the value is nowhere after', async () => {
    const value = `s3cr3t-${process.pid}-value`;
    const src = join(work, 'secret.txt');
    await writeFile(src, value);
    const run = await build('secret', [
      'FROM BASE',
      'RUN --mount=type=secret,id=tok echo "default: $(stat -c %a:%u:%g /run/secrets/tok) $(cat /run/secrets/tok | tr a-z A-Z)"',
      'RUN --mount=type=secret,id=tok,target=/etc/app/tok,mode=0440,uid=7,gid=8 echo "custom: $(stat -c %a:%u:%g /etc/app/tok)" && ! echo x 2>/dev/null > /etc/app/tok',
      'RUN --mount=type=secret,id=etok,env=TOK echo "env: $(echo $TOK | tr a-z A-Z)"',
      'RUN --mount=type=secret,id=absent,env=NOPE --mount=type=secret,id=absent2 echo "absent: ${NOPE:-unset} $(test -e /run/secrets/absent2 || echo nofile)"',
      'RUN test ! -e /run/secrets && test ! -e /etc/app && echo clean',
      '',
    ].join('\n'), [`--secret=id=tok,src=${src}`, '--secret', 'id=etok,env=E2E_SECRET_VALUE', '--verbosity=trace'], { env: { E2E_SECRET_VALUE: value } });
    const up = value.toUpperCase();
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^default: 400:0:0 ${up}$`, 'm'));
    assert.match(run.stdout, /^custom: 440:7:8$/m);
    assert.match(run.stdout, new RegExp(`^env: ${up}$`, 'm'));
    assert.match(run.stdout, /^absent: unset nofile$/m);
    assert.match(run.stdout, /^clean$/m);
    assert.ok(!run.stdout.includes(value) && !run.stderr.includes(value), 'the value is in no log line');
    // Every blob in the registry (layers gunzipped, configs, manifests): no trace of the value.
    const { gunzipSync } = await import('node:zlib');
    const { readdir, readFile } = await import('node:fs/promises');
    const entries = await readdir(registry.dataDir, { recursive: true, withFileTypes: true });
    let blobs = 0;
    for (const e of entries) {
      if (!e.isFile() || e.name !== 'data') continue;
      let data = await readFile(join(e.parentPath, e.name));
      if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
      assert.ok(!data.includes(value), `the value is in blob ${e.parentPath}`);
      blobs++;
    }
    assert.ok(blobs > 2);
  });

  test('--mount=type=secret,required=true without the secret fails naming the id', async () => {
    const run = await build('secret-req', 'FROM BASE\nRUN --mount=type=secret,id=needed,required true\n');
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /^error: .*Dockerfile:2: RUN --mount=type=secret: secret needed not found$/m, run.stderr);
  });

  test('bad values and other mount types: one line naming Dockerfile:line', async () => {
    for (const [line, re] of [
      ['RUN --network=bridge true', /^error: .*Dockerfile:2: RUN --network=bridge: expected default, none or host$/m],
      ['RUN --security=weird true', /^error: .*Dockerfile:2: RUN --security=weird: expected sandbox or insecure$/m],
      ['RUN --mount=type=tmpfs,target=/t,colour=red true', /^error: .*Dockerfile:2: RUN --mount=type=tmpfs,target=\/t,colour=red: unexpected key 'colour' in 'colour=red'$/m],
      ['RUN --mount=type=cache,target=/c,sharing=sometimes true', /^error: .*Dockerfile:2: RUN --mount=type=cache,target=\/c,sharing=sometimes: unsupported sharing value "sometimes"$/m],
    ] as const) {
      const run = await build(`bad-${n++}`, `FROM BASE\n${line}\n`);
      assert.notEqual(run.code, 0, line);
      assert.match(run.stderr, re, run.stderr);
    }
  });
});
