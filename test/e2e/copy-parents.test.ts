// COPY --parents and ADD --parents (issue 13 item 8), built by bin/executor, pushed, flattened with umoci and
// checked entry by entry: the kept parents, the ./ pivot, ** globs, --exclude, modes and owners (BuildKit semantics).
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { flattenImage, type FlatImage } from '../conformance/harness.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

describe('COPY/ADD --parents', () => {
  let registry: TestRegistry;
  let work: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-parents-'));
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function executor(name: string, dockerfile: string): Promise<{ code: number; stderr: string; ref: string }> {
    const dir = join(work, name);
    for (const f of ['a/b/c.txt', 'a/b/d.md', 'a/e.txt', 'x/y/z.txt', 'top.txt', 'arch/pkg.tar']) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), `${f}\n`);
    }
    await chmod(join(dir, 'a/b'), 0o750);
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    const ref = `${registry.host}/parents/${name}:latest`;
    const run = await runExecutor([`--context=dir://${dir}`, `--destination=${ref}`, `--root-dir=${join(work, `root-${n++}`)}`,
      '--insecure', '--log-format=text']);
    return { ...run, ref };
  }

  function list(img: FlatImage, dir: string): string[] {
    return img.entries.filter((e) => e.path === dir || e.path.startsWith(`${dir}/`)).map((e) => `${e.path} ${e.type} ${e.mode} ${e.uid}:${e.gid}`);
  }

  test('full relative paths, the ./ pivot, ** globs, --exclude, --chown/--chmod, ADD as COPY', async () => {
    const run = await executor('all', [
      'FROM scratch',
      'COPY --parents a/b/c.txt x/y/z.txt /full/',
      'COPY --parents ./a/./b/c.txt /pivot/',
      'COPY --parents **/*.txt /glob/',
      'COPY --parents --exclude=**/e.txt --chown=5:6 --chmod=0600 a /excl/',
      'ADD --parents --exclude=**/*.md a/./b /added/',
      'ADD --parents arch/pkg.tar /arch/',
      '',
    ].join('\n'));
    assert.equal(run.code, 0, run.stderr);
    const img = await flattenImage(run.ref, join(work, `flat-${n++}`));
    assert.deepEqual(list(img, '/full'), [
      '/full dir 0755 0:0', '/full/a dir 0755 0:0', '/full/a/b dir 0750 0:0', '/full/a/b/c.txt file 0644 0:0',
      '/full/x dir 0755 0:0', '/full/x/y dir 0755 0:0', '/full/x/y/z.txt file 0644 0:0',
    ]);
    assert.deepEqual(list(img, '/pivot'), ['/pivot dir 0755 0:0', '/pivot/b dir 0750 0:0', '/pivot/b/c.txt file 0644 0:0']);
    assert.deepEqual(list(img, '/glob').map((l) => l.split(' ')[0]), [
      '/glob', '/glob/a', '/glob/a/b', '/glob/a/b/c.txt', '/glob/a/e.txt', '/glob/top.txt', '/glob/x', '/glob/x/y', '/glob/x/y/z.txt',
    ]);
    assert.deepEqual(list(img, '/excl'), [
      '/excl dir 0755 5:6', '/excl/a dir 0600 5:6', '/excl/a/b dir 0600 5:6', '/excl/a/b/c.txt file 0600 5:6', '/excl/a/b/d.md file 0600 5:6',
    ]);
    assert.deepEqual(list(img, '/added'), ['/added dir 0755 0:0', '/added/b dir 0750 0:0', '/added/b/c.txt file 0644 0:0']);
    assert.deepEqual(list(img, '/arch'), ['/arch dir 0755 0:0', '/arch/arch dir 0755 0:0', '/arch/arch/pkg.tar file 0644 0:0']);
  });

  test('a --parents source that does not exist is one line naming Dockerfile:line', async () => {
    const run = await executor('missing', 'FROM scratch\n\nCOPY --parents a/nope.txt /d/\n');
    assert.equal(run.code, 1, run.stderr);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, run.stderr);
    assert.match(errors[0] ?? '', /Dockerfile:3: .*file not found.*a\/nope\.txt/);
  });
});
