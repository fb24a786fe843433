// Multi-stage selection (--target, --skip-unused-stages), a base image's ONBUILD triggers, and --reproducible.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor, type ExecutorRun } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage, skopeoConfig, skopeoInspect } from '../support/run-image.ts';

describe('stages, ONBUILD and reproducible builds', () => {
  let registry: TestRegistry;
  let work: string;
  let base: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-stages-'));
    base = `${registry.host}/busybox:latest`;
    await pushBusyboxBase(base);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string, extra: string[] = [], files: Record<string, string> = {}): Promise<ExecutorRun> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', base));
    for (const [f, content] of Object.entries(files)) await writeFile(join(dir, f), content);
    return runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/stages/${name}:latest`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull', '--log-format=text', ...extra]);
  }

  const multi = [
    'FROM BASE AS one', 'RUN echo one > /which',
    'FROM BASE AS Two', 'RUN echo two > /which',
    'FROM one AS three', 'COPY --from=two /which /from-two', 'CMD ["cat", "/which", "/from-two"]',
    'FROM BASE AS unused', 'RUN echo never > /never',
    '',
  ].join('\n');

  test('--target picks a stage (case-insensitively) and builds what it needs', async () => {
    const run = await build('target', multi, ['--target=THREE']);
    assert.equal(run.code, 0, run.stderr);
    const { stdout } = await runImage(`docker://${registry.host}/stages/target:latest`);
    assert.equal(stdout, 'one\ntwo\n');
  });

  test('--skip-unused-stages does not build stages the target does not need', async () => {
    const run = await build('skip', multi, ['--target=three', '--skip-unused-stages']);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /never/);
    assert.match(run.stderr, /Skipping unused stage|skip/i);
  });

  test('an unknown --target names the stages', async () => {
    const run = await build('badtarget', multi, ['--target=nope']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: .*nope/m);
  });

  test('a base image\'s ONBUILD triggers run first in the child, and are not inherited', async () => {
    const parent = await build('onbuild-parent', 'FROM BASE\nONBUILD COPY marker.txt /marker\nONBUILD RUN echo triggered > /triggered\n');
    assert.equal(parent.code, 0, parent.stderr);
    const child = await build('onbuild-child', `FROM ${registry.host}/stages/onbuild-parent:latest\nCMD ["cat", "/marker", "/triggered"]\n`, [], { 'marker.txt': 'from the child context\n' });
    assert.equal(child.code, 0, child.stderr);
    const { stdout } = await runImage(`docker://${registry.host}/stages/onbuild-child:latest`);
    assert.equal(stdout, 'from the child context\ntriggered\n');
    const config = await skopeoConfig(`docker://${registry.host}/stages/onbuild-child:latest`, ['--tls-verify=false']);
    assert.ok(((config['config'] as { OnBuild?: string[] | null }).OnBuild ?? []).length === 0);
  });

  test('--reproducible twice gives identical digests', async () => {
    const df = 'FROM BASE\nRUN echo "$(date) is not in the layer" > /dev/null && echo same > /same\nCOPY data.txt /data.txt\nLABEL a=b\n';
    const digests: string[] = [];
    for (const i of [1, 2]) {
      const run = await build(`repro${i}`, df, ['--reproducible'], { 'data.txt': 'constant\n' });
      assert.equal(run.code, 0, run.stderr);
      digests.push(String((await skopeoInspect(`docker://${registry.host}/stages/repro${i}:latest`, ['--tls-verify=false']))['Digest']));
    }
    assert.equal(digests[0], digests[1]);
  });
});
