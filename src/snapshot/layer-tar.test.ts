import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { link, mkdir, mkdtemp, rm, symlink, utimes, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tar from 'tar-stream';
import { createIgnoreList } from '../rootfs/ignore-list.ts';
import { planLayer, writeLayerTar } from './layer-tar.ts';
import { OwnershipTable } from '../ownership/table.ts';

type Read = { name: string; type: string; mode: number; linkname: string | null; size: number; body: string; mtime: Date };

async function readTar(path: string): Promise<Read[]> {
  const out: Read[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (h, stream, next) => {
      let body = '';
      stream.on('data', (d: unknown) => { body += String(d); });
      stream.on('end', () => { out.push({ name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, linkname: h.linkname ?? null, size: h.size ?? 0, body, mtime: h.mtime ?? new Date(0) }); next(); });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  createReadStream(path).pipe(extract);
  await done;
  return out;
}

describe('layer tar', () => {
  let root: string;
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'layer-tar-'));
    root = join(work, 'root');
    await mkdir(join(root, 'app/sub'), { recursive: true });
    await writeFile(join(root, 'app/a.txt'), 'alpha');
    await chmod(join(root, 'app/a.txt'), 0o4755);
    await link(join(root, 'app/a.txt'), join(root, 'app/sub/hard'));
    await symlink('../a.txt', join(root, 'app/sub/soft'));
    await mkdir(join(root, 'proc'), { recursive: true });
    await writeFile(join(root, 'proc/x'), 'ignored');
    await utimes(join(root, 'app/a.txt'), new Date(1_000_000), new Date(1_000_000));
  });
  after(async () => { await rm(work, { recursive: true, force: true }); });

  test('plans parents first, sorted, with whiteouts and opaque markers, skipping ignored paths', () => {
    const plan = planLayer({ added: ['/app/sub/soft', '/app/a.txt', '/proc/x'], deleted: ['/etc/gone'], opaque: ['/var/cache'] },
      createIgnoreList([{ path: '/proc' }]));
    assert.deepEqual(plan.map((e) => `${e.kind}:${e.path}`), [
      'file:/app', 'file:/app/a.txt', 'file:/app/sub', 'file:/app/sub/soft', 'file:/etc', 'whiteout:/etc/.wh.gone', 'opaque:/var/cache/.wh..wh..opq',
    ]);
  });

  test('writes files, dirs, symlinks, hardlinks and whiteouts with their metadata', async () => {
    const out = join(work, 'layer.tar');
    const result = await writeLayerTar(root, { added: ['/app/a.txt', '/app/sub/hard', '/app/sub/soft'], deleted: ['/app/old'] }, out);
    const entries = await readTar(out);
    assert.equal(result.entries, entries.length);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual(entries.map((e) => `${e.type}:${e.name}`), [
      'directory:app/', 'file:app/.wh.old', 'file:app/a.txt', 'directory:app/sub/', 'link:app/sub/hard', 'symlink:app/sub/soft',
    ]);
    assert.equal(byName.get('app/a.txt')?.body, 'alpha');
    assert.equal(byName.get('app/a.txt')?.mode, 0o4755, 'setuid bit kept');
    assert.equal(byName.get('app/a.txt')?.mtime.getTime(), 1_000_000);
    assert.equal(byName.get('app/sub/hard')?.linkname, 'app/a.txt', 'hardlink names the first path, relative');
    assert.equal(byName.get('app/sub/soft')?.linkname, '../a.txt');
  });

  test('a fixed timestamp makes every entry time the same (reproducible builds)', async () => {
    const out = join(work, 'repro.tar');
    await writeLayerTar(root, { added: ['/app/a.txt'], deleted: [] }, out, { timestamp: new Date(0) });
    for (const e of await readTar(out)) assert.equal(e.mtime.getTime(), 0);
  });

  test('paths that vanished before the snapshot are left out', async () => {
    const out = join(work, 'gone.tar');
    const r = await writeLayerTar(root, { added: ['/app/nothing-here'], deleted: [] }, out);
    assert.equal(r.entries, 1); // only the parent directory
  });
});

test('non-root mode: owners, modes and recorded devices come from the ownership table; no record is 0:0', async () => {
  const root = await mkdtemp(join(tmpdir(), 'layer-owners-'));
  try {
    await mkdir(join(root, 'd'));
    await writeFile(join(root, 'd', 'su'), 'su');
    await writeFile(join(root, 'd', 'null'), '');
    await writeFile(join(root, 'd', 'plain'), 'p');
    await chmod(join(root, 'd', 'plain'), 0o640);
    const owners = new OwnershipTable();
    owners.set('/d', { uid: 7, gid: 8, mode: 0o2775 });
    owners.set('/d/su', { uid: 0, gid: 0, mode: 0o4755 });
    owners.set('/d/null', { uid: 0, gid: 0, mode: 0o666, device: { kind: 'char', major: 1, minor: 3 } });
    const out = join(root, '..', `${root.split('/').pop() ?? 'x'}.tar`);
    await writeLayerTar(root, { added: ['/d/su', '/d/null', '/d/plain'], deleted: [] }, out, { owners });
    const headers: tar.Header[] = [];
    const extract = tar.extract();
    createReadStream(out).pipe(extract);
    for await (const e of extract) { headers.push(e.header); for await (const _ of e) { /* drain */ } }
    await rm(out, { force: true });
    const row = (n: string): string => { const h = headers.find((x) => x.name === n); return `${h?.type} ${h?.uid}:${h?.gid} ${(h?.mode ?? 0).toString(8)}${h?.type === 'character-device' ? ` ${h.devmajor},${h.devminor}` : ''}`; };
    assert.equal(row('d/'), 'directory 7:8 2775');
    assert.equal(row('d/su'), 'file 0:0 4755');
    assert.equal(row('d/null'), 'character-device 0:0 666 1,3');
    assert.equal(row('d/plain'), 'file 0:0 640');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
