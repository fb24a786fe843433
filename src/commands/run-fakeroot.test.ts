import assert from 'node:assert/strict';
import { link, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { OwnershipTable } from '../ownership/table.ts';
import { createIgnoreList } from '../rootfs/ignore-list.ts';
import { applyFakerootTable, fakerootTableText, parseFakerootTable } from './run-fakeroot.ts';

test('the table in: one NUL-ended record per path, host paths under the root', () => {
  const t = new OwnershipTable();
  t.set('/etc/shadow', { uid: 0, gid: 42, mode: 0o640 });
  t.set('/dev/null', { uid: 0, gid: 0, mode: 0o666, device: { kind: 'char', major: 1, minor: 3 } });
  assert.equal(fakerootTableText(t, '/r'), '0 42 640 - 0 0 /r/etc/shadow\0' + '0 0 666 c 1 3 /r/dev/null\0');
  assert.equal(fakerootTableText(t, '/'), '0 42 640 - 0 0 /etc/shadow\0' + '0 0 666 c 1 3 /dev/null\0');
});

test('the table out: records by node; the walk gives every name of a node its record, hard links share it, ignored paths none', async () => {
  const root = await mkdtemp(join(tmpdir(), 'fakeroot-table-'));
  try {
    await mkdir(join(root, 'd'));
    await mkdir(join(root, 'kaniko'));
    await writeFile(join(root, 'd', 'su'), 'x');
    await link(join(root, 'd', 'su'), join(root, 'd', 'su2'));
    await writeFile(join(root, 'null'), '');
    await writeFile(join(root, 'plain'), '');
    await writeFile(join(root, 'kaniko', 'x'), '');
    await symlink('d', join(root, 'l'));
    const key = async (p: string): Promise<string> => { const s = await lstat(join(root, p), { bigint: true }); return `${s.dev} ${s.ino}`; };
    const out = join(root, '..', `${root.split('/').pop() ?? ''}.out`);
    await writeFile(out, [`${await key('d/su')} 1500 0 4755 - 0 0`, `${await key('null')} 0 0 644 c 1 3`, `${await key('l')} 9 9 777 - 0 0`,
      `${await key('kaniko/x')} 5 5 644 - 0 0`, '1 2 3', ''].join('\n'));
    assert.equal(parseFakerootTable('1 2 3 4 644 b 8 0\nbad\n').get('1:2')?.device?.kind, 'block');
    const t = new OwnershipTable();
    t.set('/gone', { uid: 1, gid: 1, mode: 0o600 });
    const n = await applyFakerootTable(t, root, out, createIgnoreList([{ path: '/kaniko' }]));
    assert.equal(n, 4);
    assert.deepEqual(t.get('/d/su'), { uid: 1500, gid: 0, mode: 0o4755 });
    assert.deepEqual(t.get('/null'), { uid: 0, gid: 0, mode: 0o644, device: { kind: 'char', major: 1, minor: 3 } });
    assert.deepEqual(t.get('/l'), { uid: 9, gid: 9, mode: 0o777 });
    assert.equal(t.get('/plain'), undefined);
    assert.equal(t.get('/kaniko/x'), undefined);
    assert.equal(t.get('/gone'), undefined);
    t.chown('/d/su2', 7, 7, 0o644);
    assert.equal(t.get('/d/su')?.uid, 7, 'hard links share one record');
    await rm(out);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
