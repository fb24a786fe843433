import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildError } from '../errors.ts';
import { buildRunHelper, createBusyboxRoot, findProcesses } from './busybox-fixture.ts';
import { findRunHelper, probeChroot, runInRoot } from './run-in-root.ts';
import type { RunInRootOptions } from './run-in-root.ts';

describe('runInRoot', () => {
  let base = '';
  let root = '';
  let outside = '';
  let helper = '';

  before(async () => {
    helper = buildRunHelper();
    base = await mkdtemp(path.join(os.tmpdir(), 'sandbox-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'sentinel'), 'x');
    await createBusyboxRoot(root);
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function run(argv: readonly string[], extra: Partial<RunInRootOptions> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const { exitCode } = await runInRoot({
      root, argv, env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [], isolate: true, helperPath: helper,
      onOutput: (chunk, stream) => (stream === 'stdout' ? out : err).push(chunk),
      signal: AbortSignal.timeout(60_000),
      ...extra,
    });
    return { exitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
  }

  it('runs argv with exactly the given environment, streaming stdout and stderr', async () => {
    const r = await run(['sh', '-c', 'env; echo oops >&2'], { env: ['PATH=/bin', 'FOO=bar baz'] });
    assert.equal(r.exitCode, 0);
    const vars = r.stdout.trim().split('\n').filter((l) => !l.startsWith('PWD=') && !l.startsWith('SHLVL=')).sort();
    assert.deepEqual(vars, ['FOO=bar baz', 'PATH=/bin']);
    assert.equal(r.stderr, 'oops\n');
  });

  it('applies uid, gid and supplementary groups', async () => {
    const r = await run(['id'], { uid: 1000, gid: 1000, groups: [1000, 2000] });
    assert.equal(r.stdout.trim(), 'uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)');
  });

  it('returns the exit status; 127 when argv[0] is not found', async () => {
    assert.equal((await run(['sh', '-c', 'exit 3'])).exitCode, 3);
    const missing = await run(['no-such-program']);
    assert.equal(missing.exitCode, 127);
    assert.match(missing.stderr, /run-in-root: exec: no-such-program: not found/);
  });

  it('a setup failure is a BuildError, not an exit code', async () => {
    await assert.rejects(run(['true'], { cwd: '/missing' }), (e: unknown) => e instanceof BuildError && e.code === 'BUILD' && /chdir \/missing/.test(e.message));
  });

  it('has a private /proc, /dev and the host resolv.conf, and removes the mountpoints it made', async () => {
    const before = (await readdir(root)).sort();
    const mtime = (await stat(root)).mtimeMs;
    const r = await run(['sh', '-c', 'cat /proc/self/status | grep -c "^Uid:"; echo $$; ls /dev/null; test -s /etc/resolv.conf && echo resolv']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['1', '1', '/dev/null', 'resolv']);
    assert.deepEqual((await readdir(root)).sort(), before);
    assert.deepEqual((await readdir(path.join(root, 'etc'))).sort(), ['group', 'passwd']);
    assert.equal((await stat(root)).mtimeMs, mtime);
  });

  it('cannot see or write the host filesystem', async () => {
    const hostDir = path.basename(base);
    const r = await run(['sh', '-c', `ls ${os.tmpdir()}/${hostDir}/outside; ls /work/main/package.json; echo written > /inside`]);
    assert.match(r.stderr, /No such file or directory/);
    assert.equal(await readFile(path.join(root, 'inside'), 'utf8'), 'written\n');
    assert.deepEqual(await readdir(outside), ['sentinel']);
    await rm(path.join(root, 'inside'));
  });

  it('kills what the command left running (pid namespace)', async () => {
    const r = await run(['sh', '-c', 'sleep 987651 & echo started']);
    assert.equal(r.stdout, 'started\n');
    await waitForNone(['sleep', '987651']);
  });

  it('kills what the command left running (process group, container mode)', async () => {
    const r = await run(['sh', '-c', 'sleep 987652 & echo $! > /bg.pid'], { isolate: false });
    assert.equal(r.exitCode, 0);
    const pid = Number(await readFile(path.join(root, 'bg.pid'), 'utf8'));
    await rm(path.join(root, 'bg.pid'));
    await waitForNone(['sleep', '987652']);
    assert.equal(await isRunning(pid), false);
  });

  it('reports death by signal as 128+N', async () => {
    assert.equal((await run(['sh', '-c', 'kill -9 $$'], { isolate: false })).exitCode, 137);
  });

  it('executes a #! script given as text', async () => {
    const r = await run(['/dev/pipes/EOF', 'ignored'], { script: '#!/bin/sh\necho "script as $(id -u)"\n', uid: 1000, gid: 1000 });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'script as 1000\n');
  });

  it('an abort kills the command and rejects', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = run(['sleep', '987653'], { signal: controller.signal });
    await sleep(300);
    controller.abort();
    await assert.rejects(pending, (e: unknown) => e instanceof BuildError && /cancelled/.test(e.message));
    assert.ok(Date.now() - started < 10_000);
    await waitForNone(['sleep', '987653']);
  });
});

describe('findRunHelper', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'helper-'));
    await writeFile(path.join(dir, 'plain'), '');
    await writeFile(path.join(dir, 'exec'), '#!/bin/sh\n');
    await chmod(path.join(dir, 'exec'), 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns the first executable candidate', () => {
    assert.equal(findRunHelper([path.join(dir, 'none'), path.join(dir, 'plain'), dir, path.join(dir, 'exec')]), path.join(dir, 'exec'));
  });

  it('fails with a hint when none exists', () => {
    assert.throws(() => findRunHelper([path.join(dir, 'none')]),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD' && /build-native\.sh/.test(e.hint ?? ''));
  });
});

describe('runInRoot, chroot only (container mode, a stage directory)', () => {
  let base = '';
  let root = '';
  let helper = '';
  before(async () => {
    helper = buildRunHelper();
    base = await mkdtemp(path.join(os.tmpdir(), 'sandbox-chroot-'));
    root = path.join(base, 'root');
    await createBusyboxRoot(root);
    await mkdir(path.join(root, 'dev'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const run = async (argv: readonly string[]): Promise<{ exitCode: number; stdout: string }> => {
    const out: Buffer[] = [];
    const { exitCode } = await runInRoot({
      root, argv, env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [], isolate: false, chrootSetup: true, helperPath: helper,
      onOutput: (chunk) => out.push(chunk), signal: AbortSignal.timeout(60_000),
    });
    return { exitCode, stdout: Buffer.concat(out).toString() };
  };

  it('gives /dev nodes and the executor\'s resolv.conf and hosts for the command only, no /proc', async () => {
    const etc = path.join(root, 'etc');
    const before = await stat(etc);
    const r = await run(['sh', '-c', 'echo x > /dev/null && test -c /dev/urandom && test -c /dev/tty && echo nodes; '
      + 'test -f /etc/resolv.conf && test -f /etc/hosts && echo etc; test -e /proc || echo noproc; touch /made-here']);
    assert.equal(r.exitCode, 0, r.stdout);
    assert.equal(r.stdout, 'nodes\netc\nnoproc\n');
    assert.deepEqual((await readdir(path.join(root, 'dev'))).sort(), []);
    assert.deepEqual((await readdir(etc)).sort(), ['group', 'passwd']);
    assert.equal((await stat(etc)).mtimeMs, before.mtimeMs);
    await stat(path.join(root, 'made-here'));
  });

  it('keeps a root\'s own /etc/hosts, and /dev absent stays absent', async () => {
    await writeFile(path.join(root, 'etc', 'hosts'), 'own\n');
    await rm(path.join(root, 'dev'), { recursive: true });
    const r = await run(['sh', '-c', 'cat /etc/hosts; test -c /dev/null && echo null']);
    assert.equal(r.stdout, 'own\nnull\n');
    assert.deepEqual((await readdir(root)).includes('dev'), false);
    await rm(path.join(root, 'etc', 'hosts'));
  });

  it('probe: chroot and mknod are permitted to root here', async () => {
    assert.deepEqual(await probeChroot(helper, base), {});
  });
});

async function waitForNone(words: readonly string[]): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (findProcesses(words).length === 0) return;
    await sleep(100);
  }
  assert.deepEqual(findProcesses(words), [], `leftover process ${words.join(' ')}`);
}

/** A killed process may stay a zombie until its new parent reaps it: that counts as dead. */
async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/su.test(stat);
  } catch {
    return false;
  }
}
