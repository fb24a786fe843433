import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { BuildError } from '../errors.ts';
import { cleanEntryName, extractLayer } from './extract.ts';
import { createIgnoreList } from './ignore-list.ts';
import { OwnershipTable } from '../ownership/table.ts';

type TarHeader = Partial<Header> & Pick<Header, 'name'>;
interface TarItem { readonly header: TarHeader; readonly data?: string }

const log = pino({ level: 'silent' });
const noIgnore = createIgnoreList([]);

/** Builds a tar in memory (test data is tiny). */
async function makeTar(items: readonly TarItem[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const item of items) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(item.header, item.data ?? '', (err) => { if (err) reject(err); else resolve(); });
    });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

async function apply(root: string, items: readonly TarItem[], ignore = noIgnore): Promise<{ entries: number; bytes: number }> {
  return extractLayer(root, Readable.from([await makeTar(items)]), { ignore, log });
}

function isRootfsError(err: unknown): boolean {
  return err instanceof BuildError && err.code === 'ROOTFS';
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

describe('cleanEntryName', () => {
  const table: readonly [string, string][] = [
    ['a/b', '/a/b'], ['./a/b/', '/a/b'], ['/a', '/a'], ['./', '/'], ['.', '/'], ['a/../b', '/b'], ['//./a', '/a'],
  ];
  for (const [input, want] of table) it(`${input} -> ${want}`, () => { assert.equal(cleanEntryName(input), want); });
  for (const bad of ['../evil', '/abs/../../evil', './../x', 'a/../../b']) {
    it(`refuses ${bad}`, () => { assert.throws(() => cleanEntryName(bad), (e: unknown) => isRootfsError(e) && String(e).includes(bad)); });
  }
});

describe('extractLayer', () => {
  let base = '';
  let root = '';
  let outside = '';
  let sentinelHost = '';

  beforeEach(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'rootfs-extract-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    sentinelHost = path.join(outside, 'sentinel');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(sentinelHost, 'untouched');
  });
  afterEach(async () => {
    // Nothing may ever appear or change next to the root.
    assert.deepEqual((await readdir(base)).sort(), ['outside', 'root']);
    assert.deepEqual(await readdir(outside), ['sentinel']);
    assert.equal(await readFile(sentinelHost, 'utf8'), 'untouched');
    await rm(base, { recursive: true, force: true });
  });
  after(async () => { if (base !== '') await rm(base, { recursive: true, force: true }); });

  it('writes files, dirs, modes, owners and mtimes', async () => {
    const t1 = new Date('2001-01-01T00:00:00Z');
    const t2 = new Date('2002-02-02T00:00:00Z');
    const res = await apply(root, [
      { header: { name: 'd/', type: 'directory', mode: 0o750, uid: 7, gid: 8, mtime: t1 } },
      { header: { name: 'd/f', mode: 0o640, uid: 1000, gid: 1001, mtime: t2 }, data: 'hello' },
      { header: { name: './nested/deep/file', mode: 0o644, mtime: t2 }, data: 'x' },
      { header: { name: 'bin/su', mode: 0o4755, uid: 0, gid: 0 }, data: 'suid' },
      { header: { name: 'bin/sg', mode: 0o2755, uid: 5, gid: 5 }, data: 'sgid' },
      { header: { name: 'tmp/', type: 'directory', mode: 0o1777 } },
    ]);
    assert.deepEqual(res, { entries: 6, bytes: 14 });
    const d = await stat(path.join(root, 'd'));
    assert.equal(d.mode & 0o7777, 0o750);
    assert.equal(d.uid, 7);
    assert.equal(d.gid, 8);
    assert.equal(d.mtime.getTime(), t1.getTime(), 'dir mtime applied after its children');
    const f = await stat(path.join(root, 'd/f'));
    assert.equal(await readFile(path.join(root, 'd/f'), 'utf8'), 'hello');
    assert.equal(f.mode & 0o7777, 0o640);
    assert.equal(f.uid, 1000);
    assert.equal(f.gid, 1001);
    assert.equal(f.mtime.getTime(), t2.getTime());
    assert.equal((await stat(path.join(root, 'bin/su'))).mode & 0o7777, 0o4755);
    const sg = await stat(path.join(root, 'bin/sg'));
    assert.equal(sg.mode & 0o7777, 0o2755);
    assert.equal(sg.uid, 5);
    assert.equal((await stat(path.join(root, 'tmp'))).mode & 0o7777, 0o1777);
    assert.equal((await stat(path.join(root, 'nested/deep'))).isDirectory(), true);
  });

  it('takes large uid/gid from PAX records', async () => {
    await apply(root, [{ header: { name: 'big-ids', mode: 0o644, uid: 1, gid: 2, pax: { uid: '3000000', gid: '3000001' } }, data: 'x' }]);
    const st = await lstat(path.join(root, 'big-ids'));
    assert.equal(st.uid, 3000000);
    assert.equal(st.gid, 3000001);
  });

  it('handles long names and PAX paths', async () => {
    const long = `${'a'.repeat(90)}/${'b'.repeat(90)}/${'c'.repeat(120)}`;
    await apply(root, [{ header: { name: long, mode: 0o644 }, data: 'long' }]);
    assert.equal(await readFile(path.join(root, long), 'utf8'), 'long');
  });

  it('replaces whatever exists, keeps existing dirs\' contents', async () => {
    await mkdir(path.join(root, 'd'));
    await writeFile(path.join(root, 'd/keep'), 'k');
    await mkdir(path.join(root, 'wasdir/sub'), { recursive: true });
    await writeFile(path.join(root, 'wasfile'), 'f');
    await apply(root, [
      { header: { name: 'd', type: 'directory', mode: 0o700, uid: 3, gid: 4 } },
      { header: { name: 'wasdir', mode: 0o600 }, data: 'now a file' },
      { header: { name: 'wasfile/', type: 'directory', mode: 0o755 } },
    ]);
    assert.equal(await readFile(path.join(root, 'd/keep'), 'utf8'), 'k');
    const d = await stat(path.join(root, 'd'));
    assert.equal(d.mode & 0o7777, 0o700);
    assert.equal(d.uid, 3);
    assert.equal(await readFile(path.join(root, 'wasdir'), 'utf8'), 'now a file');
    assert.equal((await lstat(path.join(root, 'wasfile'))).isDirectory(), true);
  });

  it('never writes through an existing symlink at the final component', async () => {
    await symlink(sentinelHost, path.join(root, 'victim'));
    await symlink('../outside/sentinel', path.join(root, 'victim2'));
    await apply(root, [
      { header: { name: 'victim', mode: 0o644 }, data: 'pwned' },
      { header: { name: 'victim2', type: 'directory', mode: 0o755 } },
    ]);
    assert.equal(await readFile(path.join(root, 'victim'), 'utf8'), 'pwned');
    assert.equal((await lstat(path.join(root, 'victim2'))).isDirectory(), true);
  });

  it('creates symlinks verbatim with lchown, and hardlinks inside the root', async () => {
    await apply(root, [
      { header: { name: 'etc/target', mode: 0o644 }, data: 'T' },
      { header: { name: 'abs', type: 'symlink', linkname: '/etc/target', uid: 1234, gid: 4321 } },
      { header: { name: 'out', type: 'symlink', linkname: '../../../../etc/shadow' } },
      { header: { name: 'hard', type: 'link', linkname: 'etc/target' } },
      { header: { name: 'hard2', type: 'link', linkname: '/etc/target' } },
      { header: { name: 'hardsym', type: 'link', linkname: 'abs' } },
    ]);
    const l = await lstat(path.join(root, 'abs'));
    assert.equal(l.isSymbolicLink(), true);
    assert.equal(l.uid, 1234);
    assert.equal(l.gid, 4321);
    assert.equal(await readlink(path.join(root, 'abs')), '/etc/target');
    assert.equal(await readlink(path.join(root, 'out')), '../../../../etc/shadow');
    const ino = (await stat(path.join(root, 'etc/target'))).ino;
    assert.equal((await lstat(path.join(root, 'hard'))).ino, ino);
    assert.equal((await lstat(path.join(root, 'hard2'))).ino, ino);
    // A hardlink to a symlink links the symlink itself.
    assert.equal((await lstat(path.join(root, 'hardsym'))).isSymbolicLink(), true);
  });

  it('refuses hardlinks to missing files or outside the root', async () => {
    await assert.rejects(apply(root, [{ header: { name: 'h', type: 'link', linkname: 'nope' } }]),
      (e: unknown) => isRootfsError(e) && String(e).includes('"h"') && String(e).includes('missing'));
    await assert.rejects(apply(root, [{ header: { name: 'h2', type: 'link', linkname: '../../etc/passwd' } }]),
      (e: unknown) => isRootfsError(e) && String(e).includes('"h2"'));
    // Through a symlink the target stays inside the root (root/etc/passwd does not exist).
    await assert.rejects(apply(root, [
      { header: { name: 'up', type: 'symlink', linkname: '../../..' } },
      { header: { name: 'h3', type: 'link', linkname: 'up/outside/sentinel' } },
    ]), (e: unknown) => isRootfsError(e) && String(e).includes('"h3"'));
    assert.equal(await exists(path.join(root, 'h')), false);
    assert.equal(await exists(path.join(root, 'h2')), false);
    assert.equal(await exists(path.join(root, 'h3')), false);
  });

  it('refuses entries that climb out, before writing anything for them', async () => {
    for (const name of ['../evil', '/abs/../../evil', '../outside/sentinel']) {
      await assert.rejects(apply(root, [{ header: { name, mode: 0o644 }, data: 'evil' }]),
        (e: unknown) => isRootfsError(e) && String(e).includes(JSON.stringify(name)));
    }
    assert.deepEqual(await readdir(root), []);
  });

  it('keeps symlink-then-write escapes inside the root', async () => {
    await apply(root, [
      { header: { name: 'link', type: 'symlink', linkname: '/' } },
      { header: { name: 'link/etc/evil', mode: 0o644 }, data: 'e1' },
      { header: { name: 'up', type: 'symlink', linkname: '../../..' } },
      { header: { name: 'up/evil', mode: 0o644 }, data: 'e2' },
      { header: { name: 'up/outside/sentinel', mode: 0o644 }, data: 'e3' },
      { header: { name: 'etcl', type: 'symlink', linkname: '/etc' } },
      { header: { name: 'etcl/passwd', mode: 0o644 }, data: 'e4' },
      { header: { name: 'hostpath', type: 'symlink', linkname: outside } },
      { header: { name: 'hostpath/sentinel', mode: 0o644 }, data: 'e5' },
    ]);
    assert.equal(await readFile(path.join(root, 'etc/evil'), 'utf8'), 'e1');
    assert.equal(await readFile(path.join(root, 'evil'), 'utf8'), 'e2');
    assert.equal(await readFile(path.join(root, 'outside/sentinel'), 'utf8'), 'e3');
    assert.equal(await readFile(path.join(root, 'etc/passwd'), 'utf8'), 'e4');
    assert.equal(await readFile(path.join(root, outside, 'sentinel'), 'utf8'), 'e5');
  });

  it('a directory replaced by a symlink in the same layer is not trusted any more', async () => {
    // 'd' is a verified directory after its first entries; then a symlink replaces it and entries go below it.
    await apply(root, [
      { header: { name: 'd/', type: 'directory', mode: 0o755 } },
      { header: { name: 'd/one', mode: 0o644 }, data: '1' },
      { header: { name: 'd', type: 'symlink', linkname: outside } },
      { header: { name: 'd/two', mode: 0o644 }, data: '2' },
      { header: { name: 'e/', type: 'directory', mode: 0o755 } },
      { header: { name: 'e/f/', type: 'directory', mode: 0o755 } },
      { header: { name: 'e/.wh.f' } },
      { header: { name: 'g', type: 'symlink', linkname: '/' } },
      { header: { name: 'e/f', type: 'symlink', linkname: '/g' } },
      { header: { name: 'e/f/three', mode: 0o644 }, data: '3' },
    ]);
    assert.equal((await lstat(path.join(root, 'd'))).isSymbolicLink(), true);
    assert.equal(await readFile(path.join(root, outside, 'two'), 'utf8'), '2');
    await assert.rejects(readFile(path.join(outside, 'two')), 'nothing written outside the root');
    assert.equal(await readFile(path.join(root, 'three'), 'utf8'), '3');
  });

  it('applies whiteouts, sparing ignored paths', async () => {
    await mkdir(path.join(root, 'a/b'), { recursive: true });
    await writeFile(path.join(root, 'a/b/f'), 'x');
    await writeFile(path.join(root, 'gone'), 'x');
    await mkdir(path.join(root, 'var/run'), { recursive: true });
    await writeFile(path.join(root, 'var/run/sock'), 'x');
    await writeFile(path.join(root, 'var/log'), 'x');
    const ignore = createIgnoreList([{ path: '/var/run' }]);
    await apply(root, [
      { header: { name: 'a/.wh.b' } },
      { header: { name: '.wh.gone' } },
      { header: { name: '.wh.var' } },
      { header: { name: '.wh.missing' } },
    ], ignore);
    assert.deepEqual((await readdir(root)).sort(), ['a', 'var']);
    assert.deepEqual(await readdir(path.join(root, 'a')), []);
    assert.deepEqual(await readdir(path.join(root, 'var')), ['run']);
    assert.equal(await exists(path.join(root, 'var/run/sock')), true);
  });

  for (const order of ['marker first', 'marker last', 'marker middle'] as const) {
    it(`opaque directories drop lower content, keep this layer's (${order})`, async () => {
      await mkdir(path.join(root, 'd/sub'), { recursive: true });
      await mkdir(path.join(root, 'd/lowerdir/x'), { recursive: true });
      await writeFile(path.join(root, 'd/old'), 'lower');
      await writeFile(path.join(root, 'd/sub/oldsub'), 'lower');
      await writeFile(path.join(root, 'keep'), 'lower');
      const marker: TarItem = { header: { name: 'd/.wh..wh..opq' } };
      const content: TarItem[] = [
        { header: { name: 'd/', type: 'directory', mode: 0o755 } },
        { header: { name: 'd/new', mode: 0o644 }, data: 'upper' },
        { header: { name: 'd/sub/newsub', mode: 0o644 }, data: 'upper' },
        { header: { name: 'd/implicit/file', mode: 0o644 }, data: 'upper' },
      ];
      const items = order === 'marker first' ? [marker, ...content]
        : order === 'marker last' ? [...content, marker]
          : [...content.slice(0, 2), marker, ...content.slice(2)];
      await apply(root, items);
      assert.deepEqual((await readdir(path.join(root, 'd'))).sort(), ['implicit', 'new', 'sub']);
      assert.deepEqual(await readdir(path.join(root, 'd/sub')), ['newsub']);
      assert.equal(await readFile(path.join(root, 'd/implicit/file'), 'utf8'), 'upper');
      assert.equal(await readFile(path.join(root, 'keep'), 'utf8'), 'lower');
    });
  }

  it('skips ignored paths, also when reached through a symlink', async () => {
    const ignore = createIgnoreList([{ path: '/proc' }]);
    await apply(root, [
      { header: { name: 'proc/evil', mode: 0o644 }, data: 'x' },
      { header: { name: 'toproc', type: 'symlink', linkname: '/proc' } },
      { header: { name: 'toproc/evil2', mode: 0o644 }, data: 'x' },
      { header: { name: 'ok', mode: 0o644 }, data: 'x' },
    ], ignore);
    assert.deepEqual((await readdir(root)).sort(), ['ok', 'toproc']);
  });

  it('creates FIFOs and device nodes (or skips devices when not permitted)', async () => {
    await apply(root, [
      { header: { name: 'pipe', type: 'fifo', mode: 0o620, uid: 9, gid: 9 } },
      { header: { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: 'dev/loop0', type: 'block-device', mode: 0o660, devmajor: 7, devminor: 0 } },
    ]);
    const p = await lstat(path.join(root, 'pipe'));
    assert.equal(p.isFIFO(), true);
    assert.equal(p.mode & 0o7777, 0o620);
    assert.equal(p.uid, 9);
    if (await exists(path.join(root, 'dev/null'))) {
      const n = await lstat(path.join(root, 'dev/null'));
      assert.equal(n.isCharacterDevice(), true);
      assert.equal(n.rdev, (1 << 8) | 3);
    }
    if (await exists(path.join(root, 'dev/loop0'))) assert.equal((await lstat(path.join(root, 'dev/loop0'))).isBlockDevice(), true);
  });

  it('applies security.capability from PAX when setfattr exists', async () => {
    const cap = '\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00';
    await apply(root, [{ header: { name: 'bin/ping', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap } }, data: 'p' }]);
    let hex = '';
    try {
      hex = execFileSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'security.capability', path.join(root, 'bin/ping')], { encoding: 'utf8' });
    } catch {
      return; // attr tools absent or fs without xattrs: extraction must still have succeeded.
    }
    assert.match(hex, /security\.capability=0x0100000200200000000000000000000000000000/);
  });

  it('rejects a truncated tar and a failing source with a ROOTFS error', async () => {
    const tar = await makeTar([{ header: { name: 'big', mode: 0o644 }, data: 'y'.repeat(5000) }]);
    await assert.rejects(extractLayer(root, Readable.from([tar.subarray(0, 1500)]), { ignore: noIgnore, log }), isRootfsError);
    const failing = new Readable({ read() { this.destroy(new Error('network down')); } });
    await assert.rejects(extractLayer(root, failing, { ignore: noIgnore, log }), (e: unknown) => isRootfsError(e) && /network down/.test(String(e)));
  });
});

describe('extractLayer in non-root mode (an ownership table)', () => {
  let root: string;
  beforeEach(async () => { root = await mkdtemp(path.join(os.tmpdir(), 'extract-owners-')); });
  afterEach(async () => { await rm(root, { recursive: true, force: true }); });

  it('records owners, setuid modes and devices in the table; the disk keeps what the build needs', async () => {
    const owners = new OwnershipTable();
    const tarBytes = await makeTar([
      { header: { name: 'ro/', type: 'directory', mode: 0o555, uid: 3, gid: 4 } },
      { header: { name: 'ro/su', mode: 0o4755, uid: 0, gid: 0 }, data: 'su' },
      { header: { name: 'ro/su2', type: 'link', linkname: 'ro/su' } },
      { header: { name: 'ro/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: 'ro/gone', mode: 0o644, uid: 9 }, data: 'x' },
      { header: { name: 'ro/.wh.gone' } },
      { header: { name: 'ro/l', type: 'symlink', linkname: 'su', uid: 5, gid: 6 } },
    ]);
    await extractLayer(root, Readable.from([tarBytes]), { ignore: noIgnore, log, owners });
    assert.deepEqual(owners.get('/ro'), { uid: 3, gid: 4, mode: 0o555 });
    assert.deepEqual(owners.get('/ro/su'), { uid: 0, gid: 0, mode: 0o4755 });
    assert.equal(owners.get('/ro/su2'), owners.get('/ro/su'), 'a hard link shares its target\'s record');
    assert.deepEqual(owners.get('/ro/null'), { uid: 0, gid: 0, mode: 0o666, device: { kind: 'char', major: 1, minor: 3 } });
    assert.equal(owners.get('/ro/gone'), undefined, 'a whiteout removes the record');
    assert.deepEqual(owners.get('/ro/l'), { uid: 5, gid: 6, mode: 0o777 });
    assert.equal((await stat(path.join(root, 'ro'))).mode & 0o7777, 0o755, 'writable on disk');
    assert.equal((await stat(path.join(root, 'ro/su'))).mode & 0o7777, 0o755, 'no setuid on disk');
    assert.ok((await lstat(path.join(root, 'ro/null'))).isFile(), 'a placeholder, not a device');
  });
});
