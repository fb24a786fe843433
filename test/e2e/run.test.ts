// RUN through the executor on the busybox base: output, layers (adds, deletions as whiteouts), USER, exit codes,
// and the pushed image runs under runc.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage, skopeoConfig } from '../support/run-image.ts';

describe('RUN', () => {
  let registry: TestRegistry;
  let work: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-run-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string, extra: string[] = [], env: Record<string, string> = {}) {
    const dir = join(work, name);
    await rm(dir, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', `${registry.host}/busybox:latest`));
    return runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/run/${name}:latest`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull',
      // 'default-format' leaves --log-format out (kaniko's default, color).
      ...(extra.some((a) => a.startsWith('--log-format') || a === 'default-format') ? [] : ['--log-format=text']),
      ...extra.filter((a) => a !== 'default-format')], { env });
  }

  test('shell and exec form, env, users, deletions; the result runs', async () => {
    const run = await build('basic', [
      'FROM BASE',
      'ARG GREETING=hello',
      'ENV WHO=world',
      'RUN echo "$GREETING $WHO" > /greeting && mkdir -p /data && echo keep > /data/keep && echo drop > /data/drop',
      'RUN ["/bin/sh", "-c", "rm /data/drop && echo exec-form > /data/exec"]',
      // Debian's busybox has no adduser applet: add the user the way useradd would, by hand.
      "RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group && mkdir -p /home/app",
      'USER app',
      'RUN id -u > /tmp/uid && echo "$HOME" > /tmp/home',
      'CMD ["sh", "-c", "cat /greeting /data/keep /data/exec /tmp/uid /tmp/home; ls /data"]',
      '',
    ].join('\n'));
    assert.equal(run.code, 0, run.stderr);
    const { stdout } = await runImage(`docker://${registry.host}/run/basic:latest`);
    assert.equal(stdout, 'hello world\nkeep\nexec-form\n1234\n/home/app\nexec\nkeep\n');
    const config = await skopeoConfig(`docker://${registry.host}/run/basic:latest`, ['--tls-verify=false']);
    assert.ok(!(config['config'] as { Env: string[] }).Env.some((e) => e.startsWith('GREETING=')), 'ARGs are not persisted');
  });

  test('a failing RUN fails the build with its exit code, and nothing is pushed', async () => {
    const run = await build('fails', 'FROM BASE\nRUN echo about to fail && exit 7\n');
    assert.equal(run.code, 7, run.stderr);
    assert.match(run.stderr, /^error: .*Dockerfile:2: process "\/bin\/sh -c echo about to fail && exit 7" did not complete successfully: exit code: 7$/m);
    assert.match(run.stdout, /about to fail/);
    // BuildKit's excerpt before the error line: the file and line, the numbered lines, the failing one marked.
    assert.match(run.stderr, /Dockerfile:2\n-{20}\n {3}1 \| FROM .*\n {3}2 \| >>> RUN echo about to fail && exit 7\n-{20}\nerror: /);
  });

  test('colour only when forced or on a terminal; NO_COLOR always wins', async () => {
    const esc = /\u001b\[/u;
    const plain = await build('colour-default', 'FROM BASE\nRUN echo hi\n', ['default-format']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stderr, esc, 'the default (color) is plain text without a terminal');
    const forced = await build('colour-forced', 'FROM BASE\nRUN echo hi\n', ['default-format'], { FORCE_COLOR: '1' });
    assert.match(forced.stderr, esc);
    const explicit = await build('colour-explicit', 'FROM BASE\nRUN echo hi\n', ['--log-format=color']);
    assert.match(explicit.stderr, esc);
    const none = await build('colour-none', 'FROM BASE\nRUN echo hi\n', ['--log-format=color'], { NO_COLOR: '1', FORCE_COLOR: '1' });
    assert.equal(none.code, 0, none.stderr);
    assert.doesNotMatch(none.stderr, esc);
  });

  test('--log-format=json: every stdout and stderr line is one JSON object, RUN output and the error too', async () => {
    const run = await build('json', 'FROM BASE\nRUN echo one && echo two && printf "no newline"\nRUN echo bye && exit 3\n', ['--log-format=json']);
    assert.equal(run.code, 3, run.stderr);
    const parse = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const out = parse(run.stdout);
    const err = parse(run.stderr);
    assert.deepEqual(out.filter((r) => r['stream'] === 'run').map((r) => r['msg']), ['one', 'two', 'no newline', 'bye']);
    // Each RUN line names its step (FROM is step 1; a one-stage Dockerfile has no stage label).
    assert.deepEqual(out.filter((r) => r['stream'] === 'run').map((r) => `${String(r['stage'] ?? '-')} ${String(r['step'])}`), ['- 2', '- 2', '- 2', '- 3']);
    assert.ok(out.every((r) => r['level'] === 'info'));
    const last = err[err.length - 1];
    assert.equal(last?.['level'], 'error');
    assert.match(String(last?.['msg']), /Dockerfile:3: process "\/bin\/sh -c echo bye && exit 3" did not complete successfully: exit code: 3/);
    assert.match(String(last?.['excerpt']), /   3 \| >>> RUN echo bye/);
  });

  test('a RUN that changes nothing adds no layer', async () => {
    const run = await build('nochange', 'FROM BASE\nRUN true\nRUN echo x > /x\n');
    assert.equal(run.code, 0, run.stderr);
    const config = await skopeoConfig(`docker://${registry.host}/run/nochange:latest`, ['--tls-verify=false']);
    const history = config['history'] as { created_by: string; empty_layer?: boolean }[];
    const ours = history.slice(-2);
    assert.equal(ours[0]?.empty_layer, true);
    assert.equal(ours[1]?.empty_layer, undefined);
  });

  test('--force-build-metadata keeps an empty layer for steps that change no files', async () => {
    const run = await build('metadata', 'FROM BASE\nRUN true\nENV A=b\n', ['--force-build-metadata']);
    assert.equal(run.code, 0, run.stderr);
    const config = await skopeoConfig(`docker://${registry.host}/run/metadata:latest`, ['--tls-verify=false']);
    const diffIds = (config['rootfs'] as { diff_ids: string[] }).diff_ids;
    const history = config['history'] as { empty_layer?: boolean }[];
    assert.ok(history.slice(-2).every((h) => h.empty_layer !== true), 'RUN true and ENV each have a layer');
    assert.equal(diffIds.length, history.filter((h) => h.empty_layer !== true).length);
  });

  test('--single-snapshot makes one layer for the stage', async () => {
    const run = await build('single', 'FROM BASE\nRUN echo a > /a\nRUN echo b > /b\nCOPY Dockerfile /df\n', ['--single-snapshot']);
    assert.equal(run.code, 0, run.stderr);
    const config = await skopeoConfig(`docker://${registry.host}/run/single:latest`, ['--tls-verify=false']);
    assert.equal((config['rootfs'] as { diff_ids: string[] }).diff_ids.length, 2); // base + one
    const { stdout } = await runImage(`docker://${registry.host}/run/single:latest`, { args: ['cat', '/a', '/b'] });
    assert.equal(stdout, 'a\nb\n');
  });

  test('multi-stage: COPY --from an earlier stage that ran commands', async () => {
    const run = await build('multi', [
      'FROM BASE AS builder',
      'RUN mkdir /out && echo built > /out/artifact',
      'FROM BASE',
      'COPY --from=builder /out/artifact /artifact',
      'CMD ["cat", "/artifact"]',
      '',
    ].join('\n'));
    assert.equal(run.code, 0, run.stderr);
    const { stdout } = await runImage(`docker://${registry.host}/run/multi:latest`);
    assert.equal(stdout, 'built\n');
  });
});
