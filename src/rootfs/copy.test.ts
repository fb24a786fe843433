import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { copyFileInto, copySymlinkInto, mkdirAllInRoot, setTimesInRoot } from './copy.ts';

describe('copy primitives', () => {
  let base = '';
  let root = '';
  let outside = '';
  let src = '';

  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'rootfs-copy-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    src = path.join(base, 'src.txt');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(path.join(outside, 'sentinel'), 'untouched');
    await writeFile(src, 'content');
    await chmod(src, 0o4751);
    await utimes(src, new Date('2003-03-03T00:00:00Z'), new Date('2004-04-04T00:00:00Z'));
  });
  afterEach(async () => {
    assert.deepEqual((await readdir(base)).sort(), ['outside', 'root', 'src.txt']);
    assert.deepEqual(await readdir(outside), ['sentinel']);
    assert.equal(await readFile(path.join(outside, 'sentinel'), 'utf8'), 'untouched');
    await rm(base, { recursive: true, force: true });
  });

  it('copies a file, creating parents owned by uid:gid, keeping mode and times', async () => {
    const created = await copyFileInto(root, src, '/a/b/file', { uid: 1000, gid: 1001, preserveTimes: true });
    assert.deepEqual(created, ['/a', '/a/b']);
    const f = await stat(path.join(root, 'a/b/file'));
    assert.equal(await readFile(path.join(root, 'a/b/file'), 'utf8'), 'content');
    assert.equal(f.mode & 0o7777, 0o4751);
    assert.equal(f.uid, 1000);
    assert.equal(f.gid, 1001);
    assert.equal(f.mtime.toISOString(), '2004-04-04T00:00:00.000Z');
    const d = await stat(path.join(root, 'a'));
    assert.equal(d.mode & 0o7777, 0o755);
    assert.equal(d.uid, 1000);
  });

  it('applies an explicit mode and replaces an existing file or symlink, never writing through it', async () => {
    await symlink(path.join(outside, 'sentinel'), path.join(root, 'victim'));
    await symlink('../outside/sentinel', path.join(root, 'victim2'));
    assert.deepEqual(await copyFileInto(root, src, 'victim', { uid: 0, gid: 0, mode: 0o600, preserveTimes: false }), []);
    await copyFileInto(root, src, '/victim2', { uid: 0, gid: 0, preserveTimes: false });
    const v = await lstat(path.join(root, 'victim'));
    assert.equal(v.isFile(), true);
    assert.equal(v.mode & 0o7777, 0o600);
    assert.equal((await lstat(path.join(root, 'victim2'))).isFile(), true);
  });

  it('resolves parent symlinks inside the root', async () => {
    await symlink('/', path.join(root, 'slash'));
    await symlink('../../..', path.join(root, 'up'));
    await symlink(outside, path.join(root, 'hostdir'));
    await copyFileInto(root, src, '/slash/etc/x', { uid: 0, gid: 0, preserveTimes: false });
    await copyFileInto(root, src, '/up/outside/sentinel', { uid: 0, gid: 0, preserveTimes: false });
    await copyFileInto(root, src, '/hostdir/sentinel', { uid: 0, gid: 0, preserveTimes: false });
    assert.equal(await readFile(path.join(root, 'etc/x'), 'utf8'), 'content');
    assert.equal(await readFile(path.join(root, 'outside/sentinel'), 'utf8'), 'content');
    assert.equal(await readFile(path.join(root, outside, 'sentinel'), 'utf8'), 'content');
  });

  it('refuses to replace a directory or copy a non-file', async () => {
    await mkdir(path.join(root, 'dir'));
    await assert.rejects(copyFileInto(root, src, '/dir', { uid: 0, gid: 0, preserveTimes: false }),
      (e: unknown) => e instanceof BuildError && e.code === 'ROOTFS' && e.message.includes('/dir'));
    await assert.rejects(copyFileInto(root, outside, '/x', { uid: 0, gid: 0, preserveTimes: false }), BuildError);
    await assert.rejects(copyFileInto(root, path.join(base, 'nope'), '/x', { uid: 0, gid: 0, preserveTimes: false }), BuildError);
    await assert.rejects(copyFileInto(root, src, '/', { uid: 0, gid: 0, preserveTimes: false }), BuildError);
  });

  it('creates symlinks verbatim with lchown', async () => {
    await writeFile(path.join(root, 'existing'), 'x');
    const created = await copySymlinkInto(root, '/etc/shadow', '/l/link', { uid: 55, gid: 66 });
    assert.deepEqual(created, ['/l']);
    await copySymlinkInto(root, '../../../../outside', '/existing', { uid: 0, gid: 0 });
    const l = await lstat(path.join(root, 'l/link'));
    assert.equal(l.uid, 55);
    assert.equal(l.gid, 66);
    assert.equal(await readlink(path.join(root, 'l/link')), '/etc/shadow');
    assert.equal(await readlink(path.join(root, 'existing')), '../../../../outside');
  });

  it('mkdirAllInRoot creates what is missing, follows symlinks inside the root', async () => {
    await mkdir(path.join(root, 'run'));
    await mkdir(path.join(root, 'var'));
    await symlink('/run', path.join(root, 'var/run'));
    await symlink('../../..', path.join(root, 'up'));
    assert.deepEqual(await mkdirAllInRoot(root, '/var/run/app/x', { uid: 10, gid: 20, mode: 0o750 }), ['/run/app', '/run/app/x']);
    const d = await stat(path.join(root, 'run/app/x'));
    assert.equal(d.mode & 0o7777, 0o750);
    assert.equal(d.uid, 10);
    assert.equal(d.gid, 20);
    assert.deepEqual(await mkdirAllInRoot(root, '/var/run/app', { uid: 0, gid: 0, mode: 0o700 }), []);
    assert.deepEqual(await mkdirAllInRoot(root, 'up/outside/new', { uid: 0, gid: 0, mode: 0o755 }), ['/outside', '/outside/new']);
    await writeFile(path.join(root, 'file'), 'x');
    await assert.rejects(mkdirAllInRoot(root, '/file/sub', { uid: 0, gid: 0, mode: 0o755 }),
      (e: unknown) => e instanceof BuildError && e.message.includes('/file'));
  });

  it('mkdirAllInRoot creates the target of a dangling symlink inside the root', async () => {
    await symlink('/data/store', path.join(root, 'store'));
    assert.deepEqual(await mkdirAllInRoot(root, '/store/x', { uid: 0, gid: 0, mode: 0o755 }), ['/data', '/data/store', '/data/store/x']);
    assert.equal((await lstat(path.join(root, 'store'))).isSymbolicLink(), true);
  });

  it('setTimesInRoot sets times on the node itself', async () => {
    await symlink('/nowhere', path.join(root, 'l'));
    const t = new Date('2010-01-01T00:00:00Z');
    await setTimesInRoot(root, '/l', t, t);
    assert.equal((await lstat(path.join(root, 'l'))).mtime.getTime(), t.getTime());
  });
});
