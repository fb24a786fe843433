import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  appendFile, chmod, lchown, link, lstat, mkdir, mkdtemp, readdir, readlink, rename, rm, stat, symlink, utimes, writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { extractLayer } from '../rootfs/extract.ts';
import { createIgnoreList } from '../rootfs/ignore-list.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';
import type { LayerChanges } from './layer-tar.ts';
import { writeLayerTar } from './layer-tar.ts';
import { createSnapshotter } from './snapshotter.ts';
import type { SnapshotMode, Snapshotter } from './snapshotter.ts';

const log = pino({ level: 'silent' });
const ignore = createIgnoreList([{ path: '/proc' }, { path: '/etc/mtab' }]);
const isRoot = process.getuid?.() === 0;

let work: string;
let counter = 0;

before(async () => { work = await mkdtemp(join(tmpdir(), 'snapshotter-')); });
after(async () => { await rm(work, { recursive: true, force: true }); });

/** A fresh root with a small base tree. */
async function makeRoot(): Promise<string> {
  const root = join(work, `root-${counter++}`);
  await mkdir(join(root, 'etc/conf.d'), { recursive: true });
  await mkdir(join(root, 'usr/lib/deep/er'), { recursive: true });
  await mkdir(join(root, 'var/cache/apt'), { recursive: true });
  await mkdir(join(root, 'proc/1'), { recursive: true });
  await writeFile(join(root, 'etc/hosts'), 'localhost\n');
  await writeFile(join(root, 'etc/conf.d/a.conf'), 'a=1\n');
  await writeFile(join(root, 'etc/mtab'), 'mounts\n');
  await writeFile(join(root, 'usr/lib/libx.so.1'), 'ELF-x');
  await writeFile(join(root, 'usr/lib/deep/er/file'), 'deep');
  await writeFile(join(root, 'var/cache/apt/pkg1'), 'pkg one');
  await writeFile(join(root, 'var/cache/apt/pkg2'), 'pkg two');
  await writeFile(join(root, 'proc/1/status'), 'running');
  await symlink('libx.so.1', join(root, 'usr/lib/libx.so'));
  return root;
}

async function started(root: string, mode: SnapshotMode = 'full', ig: IgnoreList = ignore): Promise<Snapshotter> {
  const s = createSnapshotter({ root, ignore: ig, mode, log });
  await s.init();
  return s;
}

function sorted(c: LayerChanges): { added: string[]; deleted: string[]; opaque: string[] } {
  return { added: [...c.added].sort(), deleted: [...c.deleted].sort(), opaque: [...(c.opaque ?? [])].sort() };
}

describe('snapshotter', () => {
  test('no change → empty changes, in every mode', async () => {
    for (const mode of ['full', 'redo', 'time'] as const) {
      const s = await started(await makeRoot(), mode);
      assert.deepEqual(sorted(await s.snapshotTree()), { added: [], deleted: [], opaque: [] }, mode);
      assert.deepEqual(sorted(await s.snapshotTree()), { added: [], deleted: [], opaque: [] }, `${mode} again`);
    }
  });

  test('added files, directories and symlinks are reported with their changed parent', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await mkdir(join(root, 'opt/app'), { recursive: true });
    await writeFile(join(root, 'opt/app/run.sh'), '#!/bin/sh\n');
    await symlink('/opt/app/run.sh', join(root, 'usr/lib/run'));
    await writeFile(join(root, 'etc/new'), 'n');
    assert.deepEqual(sorted(await s.snapshotTree()), {
      added: ['/etc', '/etc/new', '/opt', '/opt/app', '/opt/app/run.sh', '/usr/lib', '/usr/lib/run'], deleted: [], opaque: [],
    });
    assert.deepEqual(sorted(await s.snapshotTree()).added, [], 'the new baseline includes them');
  });

  test('changed and deleted files and symlinks', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await appendFile(join(root, 'etc/hosts'), '127.0.0.1 x\n');
    await rm(join(root, 'etc/conf.d/a.conf'));
    await rm(join(root, 'usr/lib/libx.so'));
    assert.deepEqual(sorted(await s.snapshotTree()), {
      added: ['/etc/conf.d', '/etc/hosts', '/usr/lib'], deleted: ['/etc/conf.d/a.conf', '/usr/lib/libx.so'], opaque: [],
    });
  });

  test('a retargeted symlink is reported', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await rm(join(root, 'usr/lib/libx.so'));
    await symlink('libx.so.2', join(root, 'usr/lib/libx.so'));
    assert.ok((await s.snapshotTree()).added.includes('/usr/lib/libx.so'));
  });

  test('chmod-only: full and redo report it, time does not', async () => {
    for (const [mode, expected] of [['full', true], ['redo', true], ['time', false]] as const) {
      const root = await makeRoot();
      const s = await started(root, mode);
      await chmod(join(root, 'etc/hosts'), 0o600);
      assert.equal((await s.snapshotTree()).added.includes('/etc/hosts'), expected, mode);
    }
  });

  test('chown-only: full and redo report it, time does not', { skip: !isRoot && 'needs root for chown' }, async () => {
    for (const [mode, expected] of [['full', true], ['redo', true], ['time', false]] as const) {
      const root = await makeRoot();
      const s = await started(root, mode);
      await lchown(join(root, 'usr/lib/libx.so'), 1234, 5678);
      assert.equal((await s.snapshotTree()).added.includes('/usr/lib/libx.so'), expected, mode);
    }
  });

  for (const racy of [false, true]) {
    test(`a rewrite keeping size and mtime is caught in full mode (ctime), ${racy ? 'right after' : 'well after'} the write`, async () => {
      const root = await makeRoot();
      const file = join(root, 'etc/hosts');
      // Whole seconds: utimes() cannot restore a sub-millisecond mtime exactly.
      await utimes(file, 1_000_000, 1_000_000);
      if (!racy) await sleep(50);
      const full = await started(root, 'full');
      const redo = await started(root, 'redo');
      const before = await stat(file, { bigint: true });
      await writeFile(file, 'LOCALHOST\n');
      await utimes(file, 1_000_000, 1_000_000);
      const afterwards = await stat(file, { bigint: true });
      assert.equal(afterwards.mtimeNs, before.mtimeNs, 'mtime restored');
      assert.equal(afterwards.size, before.size, 'same size');
      assert.deepEqual((await full.snapshotTree()).added, ['/etc/hosts']);
      assert.deepEqual((await redo.snapshotTree()).added, [], 'redo mode cannot see it (as kaniko)');
    });
  }

  test('a modified file is reported in time mode', async () => {
    const root = await makeRoot();
    const s = await started(root, 'time');
    await appendFile(join(root, 'usr/lib/deep/er/file'), '!');
    assert.deepEqual((await s.snapshotTree()).added, ['/usr/lib/deep/er/file']);
  });

  test('a deleted directory is reported once, not its children', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await rm(join(root, 'usr/lib/deep'), { recursive: true });
    assert.deepEqual(sorted(await s.snapshotTree()), { added: ['/usr/lib'], deleted: ['/usr/lib/deep'], opaque: [] });
    assert.deepEqual(sorted(await s.snapshotTree()).deleted, [], 'forgotten after reporting');
  });

  test('a directory replaced wholesale is opaque: its contents added, no whiteouts for old children', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await rm(join(root, 'var/cache'), { recursive: true });
    await mkdir(join(root, 'var/cache/apt'), { recursive: true });
    await writeFile(join(root, 'var/cache/apt/pkg1'), 'pkg one');
    await writeFile(join(root, 'var/cache/new'), 'n');
    assert.deepEqual(sorted(await s.snapshotTree()), {
      added: ['/var', '/var/cache', '/var/cache/apt', '/var/cache/apt/pkg1', '/var/cache/new'], deleted: [], opaque: ['/var/cache'],
    });
  });

  test('file → directory and directory → file/symlink are added; the old children are not whited-out', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await rm(join(root, 'etc/hosts'));
    await mkdir(join(root, 'etc/hosts'));
    await writeFile(join(root, 'etc/hosts/inner'), 'i');
    await rm(join(root, 'usr/lib/deep'), { recursive: true });
    await writeFile(join(root, 'usr/lib/deep'), 'now a file');
    await rm(join(root, 'etc/conf.d'), { recursive: true });
    await symlink('/usr/lib', join(root, 'etc/conf.d'));
    assert.deepEqual(sorted(await s.snapshotTree()), {
      added: ['/etc', '/etc/conf.d', '/etc/hosts', '/etc/hosts/inner', '/usr/lib', '/usr/lib/deep'], deleted: [], opaque: [],
    });
  });

  test('ignored paths are never recorded, walked or reported', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await writeFile(join(root, 'proc/1/new'), 'x');
    await rm(join(root, 'proc/1/status'));
    await writeFile(join(root, 'etc/mtab'), 'other mounts, longer\n');
    assert.deepEqual(sorted(await s.snapshotTree()), { added: [], deleted: [], opaque: [] });
  });

  test('sockets are skipped', async () => {
    const root = await makeRoot();
    const s = await started(root);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'etc/sock'), resolve));
    try {
      assert.deepEqual(sorted(await s.snapshotTree()).added, ['/etc'], 'only the parent whose mtime changed');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('recordPaths: paths written by COPY (and their parents) are not reported again', async () => {
    const root = await makeRoot();
    const s = await started(root);
    await mkdir(join(root, 'app/src'), { recursive: true });
    await writeFile(join(root, 'app/src/main.js'), 'main');
    await writeFile(join(root, 'etc/hosts'), 'copied over\n');
    await s.recordPaths(['/app', '/app/src', 'app/src/main.js', '/etc/hosts']);
    await writeFile(join(root, 'usr/lib/other'), 'from RUN');
    assert.deepEqual(sorted(await s.snapshotTree()), { added: ['/usr/lib', '/usr/lib/other'], deleted: [], opaque: [] });
  });

  test('waits out the clock tick of recent writes so a same-tick rewrite cannot be missed', async () => {
    const root = await makeRoot();
    const waits: number[] = [];
    // The clock is pinned 1 ms after the newest write: on a loaded machine real time may already be past the tick.
    const { lstat: lstatBig } = await import('node:fs/promises');
    const newest = (await lstatBig(join(root, 'var/cache/apt/pkg2'), { bigint: true })).ctimeNs;
    const s = createSnapshotter({ root, ignore, mode: 'full', log, now: () => newest + 1_000_000n, sleep: async (ms) => { waits.push(ms); } });
    await s.init();
    assert.equal(waits.length, 1, 'files written just now → one wait');
    assert.ok((waits[0] ?? 0) > 0 && (waits[0] ?? 0) <= 25, `short wait: ${waits[0]}`);
    const later = createSnapshotter({ root, ignore, mode: 'full', log, now: () => BigInt(Date.now() + 60_000) * 1_000_000n,
      sleep: async (ms) => { waits.push(ms); } });
    await later.init();
    assert.equal(waits.length, 1, 'nothing recent → no wait');
  });
});

type Node = { type: string; mode: number; uid: number; gid: number; size: number; content: string };

async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every path below `dir` (ignored ones excluded) with what an image preserves. */
async function describeTree(dir: string, ig: IgnoreList): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const p = `${rel}/${name}`;
      if (ig.ignores(p)) continue;
      const st = await lstat(join(dir, p));
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      const content = type === 'file' ? await hashFile(join(dir, p)) : type === 'symlink' ? await readlink(join(dir, p)) : '';
      out.set(p, { type, mode: st.mode, uid: st.uid, gid: st.gid, size: type === 'dir' ? 0 : st.size, content });
      if (type === 'dir') await visit(p);
    }
  };
  await visit('');
  return out;
}

describe('snapshotter end to end: snapshot → layer tar → extract over the baseline copy', () => {
  for (const mode of ['full', 'redo'] as const) {
    test(`the extracted tree equals the built tree (${mode})`, async () => {
      const root = await makeRoot();
      await mkdir(join(root, 'srv/www/old'), { recursive: true });
      await writeFile(join(root, 'srv/www/old/index.html'), '<p>old</p>');
      await writeFile(join(root, 'srv/www/keep'), 'keep');
      await writeFile(join(root, 'usr/lib/hard-a'), 'shared');
      const s = await started(root, mode);
      const lower = join(work, `lower-${counter++}`);
      execFileSync('cp', ['-a', root, lower]);

      // One RUN's worth of changes.
      await appendFile(join(root, 'etc/hosts'), '10.0.0.1 db\n');
      await chmod(join(root, 'etc/conf.d/a.conf'), 0o640);
      if (isRoot) await lchown(join(root, 'usr/lib/libx.so.1'), 100, 101);
      await rm(join(root, 'usr/lib/deep'), { recursive: true });
      await rm(join(root, 'var/cache/apt/pkg2'));
      await rm(join(root, 'srv/www'), { recursive: true });
      await mkdir(join(root, 'srv/www'));
      await writeFile(join(root, 'srv/www/keep'), 'keep');
      await writeFile(join(root, 'srv/www/new'), 'new page');
      await rm(join(root, 'etc/conf.d/a.conf'));
      await mkdir(join(root, 'etc/conf.d/a.conf'));
      await writeFile(join(root, 'etc/conf.d/a.conf/part'), 'p');
      await rename(join(root, 'var/cache/apt'), join(root, 'var/apt-moved'));
      await symlink('/var/apt-moved', join(root, 'var/cache/apt'));
      await link(join(root, 'usr/lib/hard-a'), join(root, 'usr/lib/hard-b'));
      await rm(join(root, 'usr/lib/libx.so'));
      await symlink('libx.so.1.0', join(root, 'usr/lib/libx.so'));
      await mkdir(join(root, 'opt/empty'), { recursive: true, mode: 0o700 });
      await writeFile(join(root, 'proc/1/ignored'), 'never in a layer');

      const changes = await s.snapshotTree();
      const tarPath = join(work, `layer-${counter++}.tar`);
      await writeLayerTar(root, changes, tarPath, { ignore });
      await extractLayer(lower, createReadStream(tarPath), { ignore, log });

      const want = await describeTree(root, ignore);
      const got = await describeTree(lower, ignore);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'same paths');
      for (const [p, node] of want) assert.deepEqual(got.get(p), node, p);
    });
  }
});
