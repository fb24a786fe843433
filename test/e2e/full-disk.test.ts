// A full disk during a build: a small tmpfs as --root-dir. Each case ends in one line saying
// "no space left on device" and naming the step, a non-zero exit, and no image in the registry.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

const canMount = process.getuid?.() === 0;

describe('a full disk', { skip: canMount ? false : 'needs root to mount a tmpfs' }, () => {
  let dir: string;
  let registry: TestRegistry;
  let base: string;
  let n = 0;
  const mounts: string[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'e2e-full-'));
    registry = await startRegistry();
    base = `${registry.host}/full/base:1`;
    await pushBusyboxBase(base);
  });
  after(async () => {
    for (const m of mounts) { try { execFileSync('umount', [m]); } catch { /* already gone */ } }
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh tmpfs of `mib` MiB to build in. */
  async function smallDisk(mib: number): Promise<string> {
    const mnt = join(dir, `disk-${n++}`);
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', mnt]);
    mounts.push(mnt);
    return mnt;
  }

  async function build(name: string, dockerfile: string, files: Record<string, string | Buffer> = {}, mib = 8, env: Record<string, string> = {}): Promise<{ line: string; dest: string }> {
    const ctx = join(dir, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [f, body] of Object.entries(files)) await writeFile(join(ctx, f), body);
    const dest = `${registry.host}/full/${name}:1`;
    const run = await runExecutor([`--context=dir://${ctx}`, `--root-dir=${await smallDisk(mib)}`, `--destination=${dest}`, '--insecure', '--insecure-pull'], { timeoutMs: 120_000, env });
    assert.notEqual(run.code, 0, run.stderr);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, run.stderr);
    assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
    assert.doesNotMatch(run.stderr, /internal error/);
    const tags = await fetch(`http://${registry.host}/v2/full/${name}/tags/list`);
    assert.equal(tags.status, 404, 'nothing pushed');
    return { line: errors[0] ?? '', dest };
  }

  test('a RUN that fills the disk', async () => {
    const { line } = await build('run-fill', `FROM ${base}\nRUN dd if=/dev/zero of=/big bs=1M count=64\n`);
    assert.match(line, /Dockerfile:2: RUN dd if=\/dev\/zero of=\/big bs=1M count=64: no space left on device \(the disk of --root-dir .* is full\)/);
  });

  test('a COPY of a big context file', async () => {
    const { line } = await build('copy-big', `FROM ${base}\nCOPY big /big\n`, { big: Buffer.alloc(32 * 1024 * 1024, 1) });
    assert.match(line, /Dockerfile:2: COPY big \/big: no space left on device \(the disk of --root-dir .* is full\)/);
  });

  test('the layer write, when the work directory (TMPDIR) is the full disk', async () => {
    // The build root has room for the 12 MB file; the 8 MiB TMPDIR, where the layer tar is written, has not.
    const { line } = await build('layer-write', `FROM ${base}\nRUN head -c 12000000 /dev/urandom > /big\n`, {}, 64, { TMPDIR: await smallDisk(8) });
    assert.match(line, /Dockerfile:2: RUN head -c 12000000 \/dev\/urandom > \/big: no space left on device \(the disk of the work directory .* is full\)/);
  });
});
