// Bad input gets one clear line naming the file, line or flag, a non-zero exit, and no stack trace.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runExecutor } from '../support/executor-process.ts';

function assertOneLineError(run: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(run.code, 0);
  const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, run.stderr);
  assert.match(errors[0] ?? '', pattern);
  assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
}

describe('bad input', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'e2e-bad-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });
  const base = (): string[] => [`--context=dir://${dir}`, `--root-dir=${join(dir, 'root')}`, '--no-push'];

  test('a missing Dockerfile', async () => {
    const run = await runExecutor([...base(), '--dockerfile=nope/Dockerfile']);
    assertOneLineError(run, /Dockerfile not found: .*nope\/Dockerfile/);
  });

  test('an unknown instruction names file and line', async () => {
    await writeFile(join(dir, 'Dockerfile.unknown'), 'FROM scratch\n\nFROB something\n');
    const run = await runExecutor([...base(), `--dockerfile=${join(dir, 'Dockerfile.unknown')}`]);
    assertOneLineError(run, /Dockerfile\.unknown:3: .*unknown instruction: FROB/i);
  });

  test('a malformed flag value names the flag', async () => {
    const run = await runExecutor([...base(), '--push-retry=many']);
    assertOneLineError(run, /--push-retry/);
  });

  test('an unknown flag', async () => {
    const run = await runExecutor([...base(), '--frobnicate']);
    assertOneLineError(run, /unknown option '--frobnicate'/);
  });

  test('no destination and no --no-push', async () => {
    const run = await runExecutor([`--context=dir://${dir}`, `--root-dir=${join(dir, 'root')}`]);
    assertOneLineError(run, /--destination/);
  });

  test('an unreachable registry', async () => {
    await writeFile(join(dir, 'Dockerfile.unreachable'), 'FROM 127.0.0.1:1/nothing/here:latest\nCOPY Dockerfile.unreachable /\n');
    const run = await runExecutor([...base(), `--dockerfile=${join(dir, 'Dockerfile.unreachable')}`, '--insecure-pull']);
    assertOneLineError(run, /127\.0\.0\.1:1/);
  });

  test('a context that does not exist', async () => {
    const run = await runExecutor([`--context=dir://${join(dir, 'missing')}`, `--root-dir=${join(dir, 'root')}`, '--no-push']);
    assertOneLineError(run, /missing/);
  });


});
