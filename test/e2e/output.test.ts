// What a build prints (issue 16): BuildKit-style numbered steps with DONE/CACHED, the summary, transfer lines,
// a failing RUN worded as BuildKit with its output tail when the output was not streamed, and --progress.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

describe('build output', () => {
  let registry: TestRegistry;
  let work: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-output-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string, extra: string[] = [], env: Record<string, string> = {}) {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', `${registry.host}/busybox:latest`));
    await writeFile(join(dir, 'app.txt'), 'app\n');
    return runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/output/${name}:latest`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull', ...extra], { env });
  }

  const twoStages = [
    'FROM BASE AS build',
    'RUN echo built > /out && head -c 3000000 /dev/urandom > /big',
    'COPY app.txt /app.txt',
    'FROM BASE',
    'COPY --from=build /out /big /',
    '',
  ].join('\n');

  test('numbered steps with DONE and a duration, CACHED on a rebuild, and the summary', async () => {
    const cache = ['--cache', '--cache-copy-layers', `--cache-repo=oci:${join(work, 'layers')}`, '--log-format=text'];
    const first = await build('steps', twoStages, cache);
    assert.equal(first.code, 0, first.stderr);
    const err = first.stderr;
    // FROM is step 1 of the stage's total; a named stage is labelled by its name, an unnamed one stage-N.
    assert.match(err, /^INFO\[\d+\] \[build 1\/3\] FROM \S+\/busybox:latest$/m);
    assert.match(err, /^INFO\[\d+\] \[build 2\/3\] RUN echo built > \/out && head .*$/m);
    assert.match(err, /^INFO\[\d+\] \[build 2\/3\] DONE \d+\.\ds$/m);
    assert.match(err, /^INFO\[\d+\] \[build 3\/3\] COPY app\.txt \/app\.txt$/m);
    assert.match(err, /^INFO\[\d+\] \[stage-1 2\/2\] COPY --from=build \/out \/big \/$/m);
    assert.match(err, /^INFO\[\d+\] \[stage-1 2\/2\] DONE \d+\.\ds$/m);
    // kaniko's lines stay.
    assert.match(err, /Building stage build from /);
    assert.match(err, /Retrieving image manifest /);
    // A transfer of a big blob: one line at its end with size and rate (the base pulled, the 3 MB layer pushed).
    assert.match(err, /^INFO\[\d+\] pulled sha256:[0-9a-f]{12} from \S+\/busybox: \d+\.\d MiB in \d+\.\ds \(\d+\.\d [KMG]?i?B\/s\)$/m);
    assert.match(err, /^INFO\[\d+\] pushed sha256:[0-9a-f]{12} to \S+: \d+\.\d MiB in \d+\.\ds \(\d+\.\d [KMG]?i?B\/s\)$/m);
    // The summary: every step with its duration or CACHED and its layer size; the image, its size, the destination.
    const summary = err.slice(err.indexOf('Build summary'));
    assert.match(summary, /^Build summary: 2 stages, 5 steps \(0 cached\) in \d+\.\ds$/m);
    assert.match(summary, /^INFO\[\d+\] {3}\[build 1\/3\] FROM \S+ +\d+\.\ds {2}-$/m);
    assert.match(summary, /^INFO\[\d+\] {3}\[build 2\/3\] RUN echo built .* +\d+\.\ds {2}2\.\d MiB$/m);
    assert.match(summary, /^INFO\[\d+\] {3}\[stage-1 2\/2\] COPY --from=build \/out \/big \/ +\d+\.\ds {2}2\.\d MiB$/m);
    assert.match(summary, /^INFO\[\d+\] Image sha256:[0-9a-f]{64} \(\d+\.\d [KM]iB compressed\)$/m);
    assert.match(summary, new RegExp(`^INFO\\[\\d+\\] {3}pushed ${registry.host}/output/steps:latest$`, 'm'));

    const second = await build('steps', twoStages, cache);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /^INFO\[\d+\] \[build 2\/3\] CACHED$/m);
    assert.match(second.stderr, /^INFO\[\d+\] \[build 3\/3\] CACHED$/m);
    assert.match(second.stderr, /^INFO\[\d+\] {3}\[build 2\/3\] RUN echo built .* +CACHED {2}2\.\d MiB$/m);
    assert.match(second.stderr, /Build summary: 2 stages, 5 steps \(3 cached\)/);
    assert.match(second.stderr, /Using caching version of cmd/, 'kaniko\'s cache line stays');
  });

  test('--log-format=json: steps and the summary are JSON lines with stream fields', async () => {
    const run = await build('json', 'FROM BASE\nRUN echo hi\n', ['--log-format=json']);
    assert.equal(run.code, 0, run.stderr);
    const recs = run.stderr.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = recs.filter((r) => r['stream'] === 'step');
    // One stage: no label, as BuildKit.
    assert.deepEqual(steps.map((r) => r['msg']).filter((m) => !String(m).includes('DONE')), ['[1/2] FROM ' + `${registry.host}/busybox:latest`, '[2/2] RUN echo hi']);
    assert.ok(steps.some((r) => r['step'] === 2 && r['total'] === 2 && typeof r['durationMs'] === 'number' && r['cached'] === false));
    const summary = recs.find((r) => r['stream'] === 'summary');
    assert.match(String(summary?.['digest']), /^sha256:/);
    assert.deepEqual(summary?.['pushed'], [`${registry.host}/output/json:latest`]);
  });

  test('a failing RUN: BuildKit\'s reason; the output tail when the output was not streamed', async () => {
    const dockerfile = 'FROM BASE\nRUN echo first line && echo last words && exit 3\n';
    const plain = await build('fail-plain', dockerfile, ['--log-format=text', '--progress=plain']);
    assert.equal(plain.code, 3, plain.stderr);
    assert.match(plain.stderr, /^error: .*Dockerfile:2: process "\/bin\/sh -c echo first line && echo last words && exit 3" did not complete successfully: exit code: 3$/m);
    assert.match(plain.stderr, /^ERRO\[\d+\] \[2\/2\] ERROR: process "\/bin\/sh -c echo first line .*" did not complete successfully: exit code: 3$/m);
    assert.match(plain.stdout, /^last words$/m, 'plain streams the output');
    assert.doesNotMatch(plain.stderr, /^last words$/m, 'so the tail is not repeated');

    const quiet = await build('fail-quiet', dockerfile, ['--log-format=text', '--progress=quiet']);
    assert.equal(quiet.code, 3, quiet.stderr);
    assert.equal(quiet.stdout, '', 'quiet streams nothing');
    assert.doesNotMatch(quiet.stderr, /^INFO/m);
    assert.match(quiet.stderr, /------\n.* > \[2\/2\] RUN echo first line && echo last words && exit 3:\n.*first line\n.*last words\n.*------\n/);
    assert.match(quiet.stderr, /Dockerfile:2\n-{20}\n.*\n {3}2 \| >>> RUN echo first line/);
    assert.match(quiet.stderr, /^error: .*did not complete successfully: exit code: 3$/m);

    const tty = await build('fail-tty', dockerfile, ['--log-format=text', '--progress=tty']);
    assert.equal(tty.code, 3, tty.stderr);
    assert.equal(tty.stdout, '');
    assert.match(tty.stderr, /=> ERROR \[2\/2\] RUN echo first line .* \d+\.\ds\n------\n > \[2\/2\] RUN .*:\nfirst line\nlast words\n------\n/);
    assert.match(tty.stderr, /^error: .*exit code: 3$/m);
  });

  test('--progress=quiet prints only the digest; tty draws the display and the summary', async () => {
    const quiet = await build('quiet', 'FROM BASE\nRUN echo hidden\n', ['--progress=quiet']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.match(quiet.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(quiet.stderr, '');
    const viaEnv = await build('quiet-env', 'FROM BASE\n', [], { BUILDKIT_PROGRESS: 'quiet' });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /^sha256:[0-9a-f]{64}\n$/);

    const tty = await build('tty', 'FROM BASE\nRUN echo shown-not\n', ['--progress=tty', '--log-format=text']);
    assert.equal(tty.code, 0, tty.stderr);
    assert.doesNotMatch(tty.stdout, /shown-not/);
    assert.match(tty.stderr, /^=> \[2\/2\] RUN echo shown-not {2}\d+\.\ds$/m);
    assert.doesNotMatch(tty.stderr, /^INFO/m, 'the display replaces the info lines');
    assert.match(tty.stderr, /Build summary: 1 stage, 2 steps \(0 cached\)/);
  });

  test('a bad --progress value is one line naming the flag', async () => {
    const run = await build('bad', 'FROM BASE\n', ['--progress=fancy']);
    assert.notEqual(run.code, 0);
    assert.equal(run.stderr, 'error: invalid --progress "fancy": use auto, plain, tty or quiet\n');
  });
});
