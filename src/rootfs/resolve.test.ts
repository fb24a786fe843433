import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { isWithin, resolveInRoot, toRootPath } from './resolve.ts';

describe('resolveInRoot', () => {
  let base = '';
  let root = '';
  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'rootfs-resolve-'));
    root = path.join(base, 'root');
    await mkdir(path.join(root, 'usr/lib'), { recursive: true });
    await mkdir(path.join(root, 'real'), { recursive: true });
    await writeFile(path.join(root, 'real/file'), 'x');
    await symlink('/usr/lib', path.join(root, 'abs'));
    await symlink('../../../..', path.join(root, 'up'));
    await symlink('/', path.join(root, 'slash'));
    await symlink('real', path.join(root, 'rel'));
    await symlink('/etc/passwd', path.join(root, 'passwd'));
    await symlink('loop2', path.join(root, 'loop1'));
    await symlink('loop1', path.join(root, 'loop2'));
    await symlink('file', path.join(root, 'real/self'));
    await symlink('chain2', path.join(root, 'chain1'));
    await symlink('/real/../usr', path.join(root, 'chain2'));
  });
  after(async () => { await rm(base, { recursive: true, force: true }); });

  const table: readonly [string, string, boolean?][] = [
    ['/', ''],
    ['', ''],
    ['.', ''],
    ['..', ''],
    ['/../../..', ''],
    ['usr/lib', '/usr/lib'],
    ['/usr/../usr/./lib/', '/usr/lib'],
    ['abs', '/usr/lib'],
    ['abs/x', '/usr/lib/x'],
    ['abs', '/abs', false],
    ['abs/x', '/usr/lib/x', false],
    ['up/etc/passwd', '/etc/passwd'],
    ['slash/../../etc', '/etc'],
    ['rel/file', '/real/file'],
    ['passwd', '/etc/passwd'],
    ['passwd', '/passwd', false],
    ['missing/../../x', '/x'],
    ['real/self', '/real/file'],
    ['real/file/x', '/real/file/x'],
    ['chain1/lib', '/usr/lib'],
    ['abs/..', '/usr'],
    ['abs/..', '/usr', false],
  ];
  for (const [input, want, follow] of table) {
    it(`${JSON.stringify(input)}${follow === false ? ' (followFinal:false)' : ''} -> ${want || '/'}`, async () => {
      const got = await resolveInRoot(root, input, follow === false ? { followFinal: false } : {});
      assert.equal(got, want === '' ? root : root + want);
      assert.ok(isWithin(root, got));
    });
  }

  it('fails on symlink loops with a ROOTFS error', async () => {
    await assert.rejects(resolveInRoot(root, 'loop1/x'), (err: unknown) =>
      err instanceof BuildError && err.code === 'ROOTFS' && /too many levels of symbolic links/.test(err.message));
  });

  it('works with root "/"', async () => {
    assert.equal(await resolveInRoot('/', '../x/y', { followFinal: false }), '/x/y');
  });
});

describe('toRootPath / isWithin', () => {
  it('maps host paths back to root form', () => {
    assert.equal(toRootPath('/r/root', '/r/root'), '/');
    assert.equal(toRootPath('/r/root/', '/r/root/a/b'), '/a/b');
    assert.equal(toRootPath('/', '/a'), '/a');
  });
  it('rejects paths outside the root', () => {
    assert.throws(() => toRootPath('/r/root', '/r/rootx'), BuildError);
    assert.throws(() => toRootPath('/r/root', '/r'), BuildError);
    assert.equal(isWithin('/r/root', '/r/root/..'), false);
    assert.equal(isWithin('/r/root', '/r/root/..x'), true);
  });
});
