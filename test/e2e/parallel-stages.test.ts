// Independent stages build at once (issue 18): the same image byte for byte as one after another, RUN output and
// log lines carrying their stage, the first failure cancelling the others, ONBUILD edges in the stage graph.
// No timings: a loopback barrier server proves two RUNs were in flight together.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findProcesses } from '../../src/sandbox/busybox-fixture.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor, type ExecutorRun } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage } from '../support/run-image.ts';

/**
 * GET /arrive/NAME?n=K answers "together" once K names have arrived (or "alone" after a minute: a guard so a broken
 * build fails instead of hanging). GET /started/NAME answers at once; GET /wait/NAME answers once NAME has started.
 */
function barrierServer(): Promise<{ server: Server; port: number; reset(): void }> {
  let arrived = new Set<string>();
  let waiting: { n: number; answer(text: string): void }[] = [];
  let started = new Set<string>();
  let startWaiters: { name: string; answer(): void }[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, verb, name = ''] = url.pathname.split('/');
    if (verb === 'arrive') {
      arrived.add(name);
      const n = Number(url.searchParams.get('n') ?? '2');
      let done = false;
      const answer = (text: string): void => { if (!done) { done = true; res.end(`${text}\n`); } };
      const timer = setTimeout(() => answer('alone'), 60_000);
      waiting.push({ n, answer: (t) => { clearTimeout(timer); answer(t); } });
      for (const w of waiting) if (arrived.size >= w.n) w.answer('together');
    } else if (verb === 'started') {
      started.add(name);
      res.end('ok\n');
      for (const w of startWaiters) if (started.has(w.name)) w.answer();
    } else if (verb === 'wait') {
      const answer = (): void => { res.end('go\n'); };
      if (started.has(name)) answer(); else startWaiters.push({ name, answer });
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server, port: (server.address() as AddressInfo).port,
    reset: () => { arrived = new Set(); waiting = []; started = new Set(); startWaiters = []; },
  })));
}

describe('parallel stages', () => {
  let registry: TestRegistry;
  let barrier: Awaited<ReturnType<typeof barrierServer>>;
  let work: string;
  let base: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    barrier = await barrierServer();
    work = await mkdtemp(join(tmpdir(), 'e2e-parallel-'));
    base = `${registry.host}/busybox:latest`;
    await pushBusyboxBase(base);
  });
  after(async () => {
    await registry?.stop();
    barrier?.server.closeAllConnections();
    barrier?.server.close();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string, extra: string[] = [], files: Record<string, string> = {}): Promise<ExecutorRun & { digest: string }> {
    const dir = join(work, `ctx-${n}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', base).replaceAll('PORT', String(barrier.port)));
    for (const [f, content] of Object.entries(files)) await writeFile(join(dir, f), content);
    const digestFile = join(work, `digest-${n}`);
    const run = await runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/parallel/${name}:latest`,
      `--root-dir=${join(work, `root-${n++}`)}`, `--digest-file=${digestFile}`, '--insecure', '--insecure-pull', '--log-format=text', ...extra],
    { timeoutMs: 180_000 });
    const digest = run.code === 0 ? (await readFile(digestFile, 'utf8')).trim() : '';
    return { ...run, digest };
  }

  const threeStages = [
    'FROM BASE AS web', 'RUN mkdir -p /out && for i in 1 2 3; do echo web $i > /out/web-$i; done && echo built web',
    'FROM BASE AS api', 'COPY api.txt /out/api.txt', 'RUN echo api >> /out/api.txt && ln -s api.txt /out/link && echo built api',
    'FROM BASE AS tools', 'WORKDIR /out', 'RUN mkdir -p bin && echo "#!/bin/sh" > bin/tool && chmod 755 bin/tool && echo built tools',
    'FROM BASE', 'COPY --from=web /out/ /web/', 'COPY --from=api /out/ /api/', 'COPY --from=tools /out/ /tools/',
    'CMD ["cat", "/web/web-2", "/api/api.txt"]', '',
  ].join('\n');

  test('--reproducible: built at once and one after another, the digest is the same', async () => {
    const sequential = await build('seq', threeStages, ['--reproducible', '--max-parallel-stages=1'], { 'api.txt': 'from context\n' });
    assert.equal(sequential.code, 0, sequential.stderr);
    const parallel = await build('par', threeStages, ['--reproducible'], { 'api.txt': 'from context\n' });
    assert.equal(parallel.code, 0, parallel.stderr);
    const wide = await build('wide', threeStages, ['--reproducible', '--max-parallel-stages=8'], { 'api.txt': 'from context\n' });
    assert.equal(wide.code, 0, wide.stderr);
    assert.match(sequential.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(parallel.digest, sequential.digest);
    assert.equal(wide.digest, sequential.digest);
    // One after another, RUN output is printed as kaniko does (no stage prefix); at once, every line names its stage.
    assert.match(sequential.stdout, /^built web$/m);
    assert.match(parallel.stdout, /^\[web\] built web$/m);
    assert.match(parallel.stdout, /^\[tools\] built tools$/m);
    const { stdout } = await runImage(`docker://${registry.host}/parallel/par:latest`);
    assert.equal(stdout, 'web 2\nfrom context\napi\n');
  });

  test('independent stages are in flight together; their log lines carry the stage', async () => {
    barrier.reset();
    const run = await build('barrier', [
      'FROM BASE AS left', 'RUN wget -q -O /left http://127.0.0.1:PORT/arrive/left?n=2 && cat /left',
      'FROM BASE AS right', 'RUN wget -q -O /right http://127.0.0.1:PORT/arrive/right?n=2 && cat /right',
      'FROM BASE', 'COPY --from=left /left /left', 'COPY --from=right /right /right', '',
    ].join('\n'), ['--max-parallel-stages=2']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^\[left\] together$/m);
    assert.match(run.stdout, /^\[right\] together$/m);
    assert.match(run.stderr, /Building stage left.* stage=left/);
    assert.match(run.stderr, /\[right \d\/\d\] RUN wget .*right/);
  });

  test('--log-format=json: RUN lines of stages at once name stage and step in fields, not a [stage] prefix', async () => {
    barrier.reset();
    const run = await build('barrier-json', [
      'FROM BASE AS left', 'RUN wget -q -O /left http://127.0.0.1:PORT/arrive/left?n=2 && cat /left',
      'FROM BASE AS right', 'RUN wget -q -O /right http://127.0.0.1:PORT/arrive/right?n=2 && cat /right',
      'FROM BASE', 'COPY --from=left /left /left', 'COPY --from=right /right /right', '',
    ].join('\n'), ['--max-parallel-stages=2', '--log-format=json']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['stream'] === 'run');
    assert.deepEqual(lines.map((r) => `${String(r['stage'])} ${String(r['step'])} ${String(r['msg'])}`).sort(), ['left 2 together', 'right 2 together']);
  });

  test('the first failure cancels the stage still running and is the error reported', async () => {
    barrier.reset();
    const run = await build('fail', [
      'FROM BASE AS slow', 'RUN wget -q -O - http://127.0.0.1:PORT/started/slow && sleep 987123',
      'FROM BASE AS broken', 'RUN wget -q -O - http://127.0.0.1:PORT/wait/slow && exit 3',
      'FROM BASE', 'COPY --from=slow /etc/passwd /s', 'COPY --from=broken /etc/passwd /b', '',
    ].join('\n'), ['--max-parallel-stages=2']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Dockerfile:4/);
    assert.match(run.stderr, /did not complete successfully: exit code: 3/);
    assert.doesNotMatch(run.stderr, /cancelled/);
    assert.deepEqual(findProcesses(['sleep', '987123']), [], 'the slow stage\'s RUN was killed');
  });

  test('--skip-unused-stages builds a stage that only an ONBUILD trigger of the base reads', async () => {
    const onbuild = await build('onbuild-base', ['FROM BASE', 'ONBUILD COPY --from=helper /x /x', ''].join('\n'));
    assert.equal(onbuild.code, 0, onbuild.stderr);
    const run = await build('onbuild-child', [
      'FROM BASE AS helper', 'RUN echo from-helper > /x',
      'FROM BASE AS unused', 'RUN echo never',
      `FROM ${registry.host}/parallel/onbuild-base:latest`, 'CMD ["cat", "/x"]', '',
    ].join('\n'), ['--skip-unused-stages']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Skipping unused stage unused/);
    assert.doesNotMatch(run.stderr, /Skipping unused stage helper/);
    const { stdout } = await runImage(`docker://${registry.host}/parallel/onbuild-child:latest`);
    assert.equal(stdout, 'from-helper\n');
  });

  test('a bad --max-parallel-stages is one clear line', async () => {
    const run = await build('badflag', 'FROM BASE\n', ['--max-parallel-stages=-2']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /--max-parallel-stages/);
  });
});
