// The comparer decides what the conformance suite lets through, so its own rules are pinned here: every kind of
// difference is reported, allowances match only what they name, and a stated Docker value binds the executor.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile, chmod, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildahChrootArtifacts, compareImages, manifestOfTree, type FlatImage, type FsEntry } from './harness.ts';

const file = (path: string, extra: Partial<FsEntry> = {}): FsEntry =>
  ({ path, type: 'file', mode: '0644', uid: 0, gid: 0, size: 1, sha256: 'aa', ...extra });
const dir = (path: string): FsEntry => ({ path, type: 'dir', mode: '0755', uid: 0, gid: 0 });
const image = (entries: FsEntry[], config: FlatImage['config'] = {}): FlatImage => ({ ref: 'x', entries, config, layerCount: 1 });

describe('compareImages', () => {
  test('equal images have no differences; buildah\'s version label and empty values do not count', () => {
    const c = compareImages(
      image([dir('/a'), file('/a/f')], { Cmd: null, Labels: { k: 'v' } }),
      image([dir('/a'), file('/a/f')], { Labels: { k: 'v', 'io.buildah.version': '1.28.2' }, Volumes: {} }),
      [],
    );
    assert.deepEqual(c.undocumented, []);
  });

  test('content, mode, owner, link target, presence and config differences are all reported', () => {
    const c = compareImages(
      image([file('/f', { sha256: 'bb' }), file('/m', { mode: '4755' }), file('/o', { uid: 1 }),
        { path: '/l', type: 'symlink', mode: '0777', uid: 0, gid: 0, linkTarget: 'a' }, dir('/ours')], { User: 'nobody' }),
      image([file('/f'), file('/m'), file('/o'),
        { path: '/l', type: 'symlink', mode: '0777', uid: 0, gid: 0, linkTarget: 'b' }, dir('/theirs')], { User: 'root' }),
      [],
    );
    const described = c.undocumented.map((d) => (d.kind === 'fs' ? `${d.path}:${d.fields.join(',')}` : `config:${d.field}`));
    assert.deepEqual(described, ['/f:sha256', '/l:linkTarget', '/m:mode', '/o:uid', '/ours:', '/theirs:', 'config:User']);
  });

  test('an allowance covers only its path, side and fields', () => {
    const allowed = [{ path: '/w/**', only: 'executor' as const, reason: 'lazily created WORKDIR' },
      { path: '/log', fields: ['sha256'], reason: 'timestamps in a log' }];
    const c = compareImages(
      image([dir('/w'), dir('/w/x'), file('/log', { sha256: 'bb' }), file('/mode', { mode: '0600' })]),
      image([file('/log'), file('/mode')]),
      allowed,
    );
    assert.deepEqual(c.documented.map((d) => d.difference.kind === 'fs' && d.difference.path), ['/log', '/w', '/w/x']);
    assert.deepEqual(c.undocumented.map((d) => d.kind === 'fs' && d.path), ['/mode']);
  });

  test('buildah\'s chroot artifacts are allowed only while empty', () => {
    const c = compareImages(image([]), image([dir('/run'), dir('/proc'), file('/proc/x'), file('/etc/hosts', { size: 0 })]), buildahChrootArtifacts);
    assert.deepEqual(c.undocumented.map((d) => d.kind === 'fs' && d.path), ['/proc', '/proc/x']);
  });

  test('a stated Docker value binds the executor even when buildah agrees with it', () => {
    const allowed = [{ config: 'Cmd' as const, docker: ['/bin/sh', '-ec', 'x'], reason: 'buildah ignores SHELL' }];
    const ok = compareImages(image([], { Cmd: ['/bin/sh', '-ec', 'x'] }), image([], { Cmd: ['/bin/sh', '-c', 'x'] }), allowed);
    assert.deepEqual([ok.undocumented, ok.dockerMismatches], [[], []]);
    const wrong = compareImages(image([], { Cmd: ['/bin/sh', '-c', 'x'] }), image([], { Cmd: ['/bin/sh', '-c', 'x'] }), allowed);
    assert.equal(wrong.dockerMismatches.length, 1);
  });
});

describe('manifestOfTree', () => {
  test('lists types, modes, sizes, hashes, link targets and hardlink groups in sorted order', async () => {
    const root = await mkdtemp(join(tmpdir(), 'manifest-of-tree-'));
    try {
      await mkdir(join(root, 'd'));
      await chmod(join(root, 'd'), 0o755);
      await writeFile(join(root, 'd', 'b'), 'hello');
      await chmod(join(root, 'd', 'b'), 0o4755);
      await link(join(root, 'd', 'b'), join(root, 'd', 'a'));
      await symlink('b', join(root, 'd', 'c'));
      const entries = await manifestOfTree(root);
      assert.deepEqual(entries.map((e) => [e.path, e.type, e.mode, e.size, e.linkTarget, e.hardlinkTo]), [
        ['/d', 'dir', '0755', undefined, undefined, undefined],
        ['/d/a', 'file', '4755', 5, undefined, undefined],
        ['/d/b', 'file', '4755', 5, undefined, '/d/a'],
        ['/d/c', 'symlink', '0777', undefined, 'b', undefined],
      ]);
      assert.equal(entries[1]?.sha256, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
