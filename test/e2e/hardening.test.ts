// Hostile input: a context whose Dockerfile or .dockerignore is a symlink to a host file, expansion that
// would grow without bound, a Dockerfile of 100,000 instructions, control characters in the input.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runExecutor } from '../support/executor-process.ts';

function oneErrorLine(run: { code: number; stderr: string }): string {
  assert.notEqual(run.code, 0, run.stderr);
  const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  return errors[0] ?? '';
}

describe('hardening', () => {
  let dir: string;
  let n = 0;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'e2e-hard-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });
  const root = (): string => `--root-dir=${join(dir, `root-${n++}`)}`;

  /** A tar:// context made from `files` (name → content, or {link} for a symlink). */
  async function tarContext(name: string, files: Record<string, string | { link: string }>): Promise<string> {
    const src = join(dir, name);
    await mkdir(src, { recursive: true });
    for (const [file, body] of Object.entries(files)) {
      await mkdir(join(src, file, '..'), { recursive: true });
      if (typeof body === 'string') await writeFile(join(src, file), body);
      else await symlink(body.link, join(src, file));
    }
    const tarPath = join(dir, `${name}.tar`);
    execFileSync('tar', ['-cf', tarPath, '-C', src, '.']);
    return `--context=tar://${tarPath}`;
  }

  test('a context Dockerfile that is a symlink to a host file is resolved inside the context', async () => {
    const ctx = await tarContext('link-out', { Dockerfile: { link: '/etc/passwd' } });
    const line = oneErrorLine(await runExecutor([ctx, root(), '--no-push']));
    assert.match(line, /Dockerfile not found: .*\/etc\/passwd/);
    assert.doesNotMatch(line, /root:/, 'nothing of the host file is shown');
  });

  test('a Dockerfile symlink that climbs with .. stays in the context too', async () => {
    const ctx = await tarContext('link-up', { Dockerfile: { link: '../../../../../../../etc/passwd' } });
    assert.match(oneErrorLine(await runExecutor([ctx, root(), '--no-push'])), /Dockerfile not found/);
  });

  test('a symlink inside the context to another file of the context is followed; .dockerignore to a host file is not', async () => {
    // Read from the host, this ignore file would exclude `kept` and the COPY would fail.
    await writeFile(join(dir, 'host.dockerignore'), 'kept\n');
    const ctx = await tarContext('link-in', {
      'build/real.Dockerfile': 'FROM scratch\nCOPY kept /kept\n', Dockerfile: { link: '/build/real.Dockerfile' }, kept: 'yes\n',
      '.dockerignore': { link: join(dir, 'host.dockerignore') },
    });
    const run = await runExecutor([ctx, root(), '--no-push']);
    assert.equal(run.code, 0, run.stderr);
  });

  test('--dockerfile that leaves the context names the flag', async () => {
    const ctx = await tarContext('plain', { Dockerfile: 'FROM scratch\n' });
    assert.match(oneErrorLine(await runExecutor([ctx, root(), '--no-push', '--dockerfile=../../nope/Dockerfile'])), /--dockerfile \.\.\/\.\.\/nope\/Dockerfile is outside the build context/);
  });
});
