// Issue 5's acceptance: a rebuild with nothing changed runs no RUN and reuses every cached layer; keys follow
// content (a changed context file rebuilds from its COPY on, an unused build arg rebuilds nothing); the warmer's
// cache lets a build start with the base image's registry down.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor, type ExecutorRun } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage } from '../support/run-image.ts';
import { runWarmer } from '../support/warmer-process.ts';

const hits = (run: ExecutorRun): number => (run.stderr.match(/Using caching version of cmd/g) ?? []).length;
const misses = (run: ExecutorRun): number => (run.stderr.match(/No cached layer found for cmd/g) ?? []).length;

describe('layer cache in a registry', () => {
  let registry: TestRegistry;
  let work: string;
  let ctx: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-cache-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
    ctx = join(work, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), [
      `FROM ${registry.host}/busybox:latest`,
      'ARG UNUSED=1',
      'RUN date +%s%N > /first',
      'COPY a.txt /a.txt',
      'RUN cat /a.txt /first > /second && date +%s%N >> /second',
      'COPY b.txt /b.txt',
      'RUN date +%s%N > /third',
      'CMD ["cat", "/first", "/second", "/third"]',
      '',
    ].join('\n'));
    await writeFile(join(ctx, 'a.txt'), 'a1\n');
    await writeFile(join(ctx, 'b.txt'), 'b1\n');
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  const build = (tag: string, extra: string[] = []) => runExecutor([
    `--context=dir://${ctx}`, `--destination=${registry.host}/cached/app:${tag}`, `--root-dir=${join(work, `root-${n++}`)}`,
    '--cache', '--cache-copy-layers', '--insecure', '--insecure-pull', '--log-format=text', '--reproducible', ...extra,
  ]);

  let first: ExecutorRun;
  test('a cold build misses every cacheable step and fills the cache', async () => {
    first = await build('cold');
    assert.equal(first.code, 0, first.stderr);
    assert.equal(hits(first), 0);
    assert.equal(misses(first), 5);
  });

  test('a rebuild with nothing changed runs no RUN, reuses every layer, and has the same digest', async () => {
    const second = await build('warm');
    assert.equal(second.code, 0, second.stderr);
    assert.equal(hits(second), 5, second.stderr);
    assert.equal(misses(second), 0);
    assert.doesNotMatch(second.stderr, /Unpacking rootfs/, 'nothing needed the filesystem');
    const digestOf = (r: ExecutorRun): string => /Built image with digest (sha256:[0-9a-f]{64})/.exec(r.stderr)?.[1] ?? 'none';
    assert.equal(digestOf(second), digestOf(first));
    const cold = await runImage(`docker://${registry.host}/cached/app:cold`);
    const warm = await runImage(`docker://${registry.host}/cached/app:warm`);
    assert.equal(warm.stdout, cold.stdout, 'RUN date output identical: the RUNs did not run again');
  });

  test('an unused build arg changes nothing', async () => {
    const run = await build('unused-arg', ['--build-arg=NEVER_DECLARED=x']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(hits(run), 5, run.stderr);
  });

  test('a declared ARG with a new value misses from the first RUN on (Docker: RUN sees ARGs as env)', async () => {
    const run = await build('declared-arg', ['--build-arg=UNUSED=2']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(hits(run), 0, run.stderr);
  });

  test('changing one context file rebuilds its COPY and the steps after it only', async () => {
    await writeFile(join(ctx, 'b.txt'), 'b2\n');
    const run = await build('changed');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(hits(run), 3, run.stderr);
    assert.equal(misses(run), 2);
    const { stdout } = await runImage(`docker://${registry.host}/cached/app:changed`);
    const cold = await runImage(`docker://${registry.host}/cached/app:cold`);
    const [f1, s1] = cold.stdout.split('\n');
    const [f2, s2] = stdout.split('\n');
    assert.equal(f2, f1, '/first came from the cache');
    assert.equal(s2, s1, '/second came from the cache');
  });
});

describe('base images from the warmer\'s cache directory', () => {
  test('with the registry stopped, the executor builds from the cached base', async () => {
    const registry = await startRegistry({ auth: 'none' });
    const work = await mkdtemp(join(tmpdir(), 'e2e-warm-base-'));
    try {
      await pushBusyboxBase(`${registry.host}/busybox:latest`);
      const cacheDir = join(work, 'cache');
      const warm = await runWarmer([`--cache-dir=${cacheDir}`, `--image=${registry.host}/busybox:latest`, '--insecure-pull']);
      assert.equal(warm.code, 0, warm.stderr);
      await registry.stop();
      await writeFile(join(work, 'Dockerfile'), `FROM ${registry.host}/busybox:latest\nRUN echo offline > /proof\n`);
      const run = await runExecutor([
        `--context=dir://${work}`, `--root-dir=${join(work, 'root')}`, '--no-push', `--tar-path=${join(work, 'out.tar')}`,
        '--cache', `--cache-dir=${cacheDir}`, `--cache-repo=oci:${join(work, 'layers')}`, '--insecure-pull', '--log-format=text',
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /Found .* in the cache directory/);
      const { stdout } = await runImage(`docker-archive:${join(work, 'out.tar')}`, { args: ['cat', '/proof'] });
      assert.equal(stdout, 'offline\n');
      assert.ok((await readFile(join(work, 'out.tar'))).length > 0);
    } finally {
      await registry.stop().catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
  });
});
