import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRootless } from './privileges.ts';
import { diskMode, OwnershipTable } from './table.ts';

test('records, hard links share one record, remove takes the subtree', () => {
  const t = new OwnershipTable();
  t.set('/usr/bin/su', { uid: 0, gid: 0, mode: 0o4755 });
  t.link('/usr/bin/su', '/usr/bin/su2');
  t.chown('/usr/bin/su2', 5, 6, 0);
  assert.deepEqual(t.get('/usr/bin/su'), { uid: 5, gid: 6, mode: 0o4755 });
  t.set('/usr/bin/su2', { uid: 1, gid: 1, mode: 0o755 });
  assert.equal(t.get('/usr/bin/su')?.uid, 5, 'a new node at a linked name breaks the link');
  t.set('/usr', { uid: 0, gid: 0, mode: 0o755 });
  t.set('/usrx', { uid: 0, gid: 0, mode: 0o755 });
  t.remove('/usr');
  assert.deepEqual([...t.entries()].map(([p]) => p), ['/usrx']);
  t.chown('/new', 1500, 1500, 0o10644);
  assert.deepEqual(t.get('/new'), { uid: 1500, gid: 1500, mode: 0o644 });
  t.link('/missing', '/usrx');
  assert.equal(t.get('/usrx'), undefined);
});

test('diskMode keeps what the owner needs and drops setuid', () => {
  assert.equal(diskMode(0o4755, false), 0o755);
  assert.equal(diskMode(0o000, false), 0o600);
  assert.equal(diskMode(0o1555, true), 0o755);
});

const status = (uid: number, cap: string): string => `Name:\tnode\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nCapEff:\t${cap}\n`;

test('decideRootless: auto from uid and CapEff, forced by the flag', () => {
  const root = decideRootless('auto', status(0, '000001ffffffffff'), { isolate: true });
  assert.equal(root.rootless, false);
  const user = decideRootless('auto', status(1000, '0000000000000000'), { isolate: true });
  assert.equal(user.rootless, true);
  assert.match(user.reason, /uid 1000 without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT, CAP_SYS_ADMIN/);
  // Docker's default capabilities: enough in the executor's container (no chroot), not for --root-dir.
  const docker = status(0, '00000000a80425fb');
  assert.equal(decideRootless('auto', docker, { isolate: false }).rootless, false);
  assert.deepEqual(decideRootless('auto', docker, { isolate: true }).missing, ['CAP_SYS_ADMIN']);
  assert.equal(decideRootless('always', status(0, '000001ffffffffff'), { isolate: true }).rootless, true);
  assert.equal(decideRootless('never', status(1000, '0'), { isolate: true }).rootless, false);
  assert.equal(decideRootless('auto', undefined, { isolate: true, euid: 1000 }).rootless, true);
});
