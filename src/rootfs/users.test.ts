import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { fileOpOwner, lookupUser, parseGroup, parsePasswd, resolveOwnership, supplementaryGroups } from './users.ts';

const passwd = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  '# comment',
  'broken:line',
  'app:x:1000:1001:App User,,,:/home/app:/bin/sh',
  'nohome:x:1002:1002::',
  '',
].join('\n');
const group = [
  'root:x:0:',
  'daemon:x:1:',
  'staff:x:50:app,other',
  'appgrp:x:1001:',
  'docker:x:999:other, app',
  'bad:x:notanumber:app',
].join('\n');

describe('parsePasswd / parseGroup', () => {
  it('parses valid lines and skips malformed ones', () => {
    const users = parsePasswd(passwd);
    assert.deepEqual(users.map((u) => u.name), ['root', 'daemon', 'app', 'nohome']);
    assert.equal(users.find((u) => u.name === 'nohome')?.home, '/');
    const groups = parseGroup(group);
    assert.deepEqual(groups.map((g) => g.gid), [0, 1, 50, 1001, 999]);
    assert.deepEqual(groups.find((g) => g.name === 'docker')?.members, ['other', 'app']);
  });
});

describe('users of the build root', () => {
  let base = '';
  let root = '';
  let bare = '';
  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'rootfs-users-'));
    root = path.join(base, 'root');
    bare = path.join(base, 'bare');
    await mkdir(path.join(root, 'real-etc'), { recursive: true });
    await mkdir(bare);
    // /etc is an absolute symlink: it must resolve inside the root, not to the host's /etc.
    await symlink('/real-etc', path.join(root, 'etc'));
    await writeFile(path.join(root, 'real-etc/passwd'), passwd);
    await writeFile(path.join(root, 'real-etc/group'), group);
  });
  after(async () => { await rm(base, { recursive: true, force: true }); });

  it('looks users up by name and uid', async () => {
    assert.deepEqual(await lookupUser(root, 'app'), { uid: 1000, gid: 1001, home: '/home/app', name: 'app' });
    assert.deepEqual(await lookupUser(root, '0'), { uid: 0, gid: 0, home: '/root', name: 'root' });
    assert.deepEqual(await lookupUser(root, '4242'), { uid: 4242, gid: 0, home: '/' });
    assert.deepEqual(await lookupUser(bare, '7'), { uid: 7, gid: 0, home: '/' });
  });

  it('accepts user:group', async () => {
    assert.deepEqual(await lookupUser(root, 'app:staff'), { uid: 1000, gid: 50, home: '/home/app', name: 'app' });
    assert.deepEqual(await lookupUser(root, '4242:7'), { uid: 4242, gid: 7, home: '/' });
  });

  it('names an unknown user or group', async () => {
    await assert.rejects(lookupUser(root, 'ghost'), (err: unknown) => err instanceof BuildError && err.code === 'ROOTFS' && err.message.includes('"ghost"'));
    await assert.rejects(lookupUser(bare, 'app'), /"app"/);
    await assert.rejects(lookupUser(root, 'app:nogroup'), /"nogroup"/);
  });

  it('lists supplementary groups', async () => {
    assert.deepEqual(await supplementaryGroups(root, 'app', 1001), [50, 999]);
    assert.deepEqual(await supplementaryGroups(root, 'other', 50), [999]);
    assert.deepEqual(await supplementaryGroups(root, 'nobody', 0), []);
    assert.deepEqual(await supplementaryGroups(bare, 'app', 0), []);
  });

  it('resolves --chown values with Docker rules', async () => {
    assert.deepEqual(await resolveOwnership(root, 'app'), { uid: 1000, gid: 1000 });
    assert.deepEqual(await resolveOwnership(root, 'app:staff'), { uid: 1000, gid: 50 });
    assert.deepEqual(await resolveOwnership(root, '1:2'), { uid: 1, gid: 2 });
    assert.deepEqual(await resolveOwnership(root, '123'), { uid: 123, gid: 123 });
    assert.deepEqual(await resolveOwnership(root, 'daemon:0'), { uid: 1, gid: 0 });
    assert.deepEqual(await resolveOwnership(bare, '5:6'), { uid: 5, gid: 6 });
    await assert.rejects(resolveOwnership(root, 'ghost'), /"ghost"/);
    await assert.rejects(resolveOwnership(root, 'app:ghosts'), /"ghosts"/);
    await assert.rejects(resolveOwnership(root, 'a:b:c'), /invalid --chown/);
    await assert.rejects(resolveOwnership(root, ':5'), /invalid --chown/);
  });

  it('gives file operations (WORKDIR) the owner BuildKit\'s readUser does: no lookup errors', async () => {
    assert.deepEqual(await fileOpOwner(root, ''), { uid: 0, gid: 0 });
    assert.deepEqual(await fileOpOwner(root, 'app'), { uid: 1000, gid: 1001 });
    assert.deepEqual(await fileOpOwner(root, '1000'), { uid: 1000, gid: 1000 });
    assert.deepEqual(await fileOpOwner(root, '4242'), { uid: 4242, gid: 4242 });
    assert.deepEqual(await fileOpOwner(root, 'ghost'), { uid: 0, gid: 0 });
    assert.deepEqual(await fileOpOwner(bare, 'app'), { uid: 0, gid: 0 });
    assert.deepEqual(await fileOpOwner(root, 'app:staff'), { uid: 1000, gid: 50 });
    assert.deepEqual(await fileOpOwner(root, 'app:ghosts'), { uid: 1000, gid: 1001 });
    assert.deepEqual(await fileOpOwner(root, '4242:7'), { uid: 4242, gid: 7 });
  });
});
