import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { scanRoot, scanRpmBdb, scanRpmSqlite } from './packages.ts';
import { readBdbHashValues, readNdbValues } from './rpm-bdb.ts';
import { rpmHeader } from '../../test/support/rpm-header.ts';


const pkg = (name: string, version: string, release: string, description = 'x'): Buffer =>
  rpmHeader([[1000, 6, name], [1001, 6, version], [1002, 6, release], [1003, 4, 2], [1022, 6, 'x86_64'], [1014, 6, 'GPL-2.0'],
    [1044, 6, `${name}-${version}-${release}.src.rpm`], [1005, 9, description]]);

/** A BerkeleyDB hash database written by Debian's db5.3_load from (4-byte little-endian key, value) pairs. */
function bdbLoad(file: string, values: Buffer[], pageSize: number): void {
  const lines = ['VERSION=3', 'format=bytevalue', 'type=hash', `db_pagesize=${pageSize}`, 'HEADER=END'];
  values.forEach((v, i) => {
    const key = Buffer.alloc(4); key.writeUInt32LE(i);
    lines.push(` ${key.toString('hex')}`, ` ${v.toString('hex')}`);
  });
  lines.push('DATA=END', '');
  execFileSync('db5.3_load', ['-t', 'hash', file], { input: lines.join('\n') });
}

test('BerkeleyDB hash Packages written by db5.3_load: inline and overflow values, key 0 counter skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rpmbdb-'));
  try {
    const counter = Buffer.alloc(4); counter.writeUInt32LE(40);
    const big = pkg('kernel-core', '4.18.0', '553.el8_10', 'd'.repeat(20000)); // > page size: overflow chain
    const small: Buffer[] = Array.from({ length: 30 }, (_, i) => pkg(`lib${i}`, `1.${i}`, '1.el8'));
    const file = join(dir, 'Packages');
    bdbLoad(file, [counter, big, ...small], 4096);
    const values = readBdbHashValues(file);
    assert.equal(values.length, 32);
    assert.ok(values.some((v) => v.equals(big)), 'the overflow value comes back whole');
    const pkgs = scanRpmBdb(file, 'rhel', '/var/lib/rpm/Packages');
    assert.equal(pkgs.length, 31);
    const k = pkgs.find((p) => p.name === 'kernel-core');
    assert.deepEqual([k?.version, k?.purl, k?.license], ['4.18.0-553.el8_10', 'pkg:rpm/rhel/kernel-core@4.18.0-553.el8_10?arch=x86_64&epoch=2', 'GPL-2.0']);
    assert.deepEqual(pkgs.filter((p) => p.name.startsWith('lib')).map((p) => p.name).sort(), small.map((_, i) => `lib${i}`).sort());
    // The smallest page size: more pages, longer overflow chains.
    bdbLoad(join(dir, 'P2'), [counter, big, small[0] ?? Buffer.alloc(0)], 512);
    assert.equal(scanRpmBdb(join(dir, 'P2'), 'rhel', '/x').length, 2);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('corrupt BerkeleyDB: a thrown error naming the fault, never a hang; scanRoot warns and goes on', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rpmbdb-'));
  try {
    const file = join(dir, 'Packages');
    bdbLoad(file, [pkg('bash', '4.4.20', '4.el8'), pkg('big', '1', '1', 'z'.repeat(9000))], 4096);
    const good = await readFile(file);
    // An overflow page whose next pointer loops back to itself.
    const loop = Buffer.from(good);
    for (let n = 1; n * 4096 < loop.length; n++) if (loop[n * 4096 + 25] === 7) loop.writeUInt32LE(n, n * 4096 + 16);
    await writeFile(join(dir, 'loop'), loop);
    assert.throws(() => readBdbHashValues(join(dir, 'loop')), /BerkeleyDB: (bad overflow chain|overflow chain ends early)/);
    const badSize = Buffer.from(good); badSize.writeUInt32LE(3, 20);
    await writeFile(join(dir, 'size'), badSize);
    assert.throws(() => readBdbHashValues(join(dir, 'size')), /bad page size 3/);
    await writeFile(join(dir, 'short'), good.subarray(0, 4096 + 100));
    assert.throws(() => readBdbHashValues(join(dir, 'short')), /BerkeleyDB:/);
    await writeFile(join(dir, 'junk'), Buffer.alloc(8192, 0x41));
    assert.throws(() => readBdbHashValues(join(dir, 'junk')), /not a hash database/);

    const root = join(dir, 'root');
    await mkdir(join(root, 'var/lib/rpm'), { recursive: true });
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID="centos"\n');
    await writeFile(join(root, 'var/lib/rpm/Packages'), good);
    const found = (await scanRoot(root)).filter((p) => p.type === 'rpm');
    assert.deepEqual(found.map((p) => [p.purl, p.location]).sort(), [
      ['pkg:rpm/centos/bash@4.4.20-4.el8?arch=x86_64&epoch=2', '/var/lib/rpm/Packages'],
      ['pkg:rpm/centos/big@1-1?arch=x86_64&epoch=2', '/var/lib/rpm/Packages'],
    ]);
    await writeFile(join(root, 'var/lib/rpm/Packages'), loop);
    const warnings: string[] = [];
    assert.deepEqual((await scanRoot(root, { warn: (l) => warnings.push(l) })).filter((p) => p.type === 'rpm'), []);
    assert.match(warnings[0] ?? '', /^sbom: \/var\/lib\/rpm\/Packages not read: BerkeleyDB: /);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

/** An ndb Packages.db as rpm's rpmpkg.c lays it out: header + slots in the slot pages, then 16-byte-aligned blobs. */
function ndbFile(values: Buffer[], slotPages = 1): Buffer {
  const slots = Buffer.alloc(slotPages * 4096);
  slots.write('RpmP', 0, 'latin1'); slots.writeUInt32LE(0, 4); slots.writeUInt32LE(7, 8); slots.writeUInt32LE(slotPages, 12);
  for (let at = 32; at < slots.length; at += 16) slots.write('Slot', at, 'latin1');
  const blobs: Buffer[] = [];
  let block = slotPages * 4096 / 16;
  values.forEach((v, i) => {
    const len = Math.ceil((16 + v.length + 12) / 16) * 16; // rpm adds a 12-byte tail (checksum, length, magic)
    const b = Buffer.alloc(len);
    b.write('BlbS', 0, 'latin1'); b.writeUInt32LE(i + 1, 4); b.writeUInt32LE(0, 8); b.writeUInt32LE(v.length, 12); v.copy(b, 16);
    const slot = 32 + 16 * (i * 2); // every other slot used: empty slots (index 0) between
    slots.writeUInt32LE(i + 1, slot + 4); slots.writeUInt32LE(block, slot + 8); slots.writeUInt32LE(len / 16, slot + 12);
    blobs.push(b); block += len / 16;
  });
  return Buffer.concat([slots, ...blobs]);
}

test('SUSE ndb Packages.db: packages read from the slots; corrupt slots or blobs refused; scanRoot finds them', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rpmndb-'));
  try {
    const values = [pkg('aaa_base', '84.87+git20180409', '150300.3.9.1'), pkg('glibc', '2.31', '150300.46.1', 'q'.repeat(10000)), pkg('zypper', '1.14', '1')];
    const file = join(dir, 'Packages.db');
    await writeFile(file, ndbFile(values));
    assert.deepEqual(readNdbValues(file).map((v) => v.length), values.map((v) => v.length));
    const bad = ndbFile(values); bad.write('Xlot', 32 + 16 * 5, 'latin1');
    await writeFile(join(dir, 'bad'), bad);
    assert.throws(() => readNdbValues(join(dir, 'bad')), /ndb: bad slot magic/);
    const long = ndbFile(values); long.writeUInt32LE(1 << 30, 4096 + 12);
    await writeFile(join(dir, 'long'), long);
    assert.throws(() => readNdbValues(join(dir, 'long')), /ndb: package 1 length/);
    const root = join(dir, 'root');
    await mkdir(join(root, 'usr/lib/sysimage/rpm'), { recursive: true });
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'ID="sles"\n');
    await writeFile(join(root, 'usr/lib/sysimage/rpm/Packages.db'), ndbFile(values));
    const found = (await scanRoot(root)).filter((p) => p.type === 'rpm');
    assert.deepEqual(found.map((p) => [p.purl, p.location]), [
      ['pkg:rpm/sles/aaa_base@84.87%2Bgit20180409-150300.3.9.1?arch=x86_64&epoch=2', '/usr/lib/sysimage/rpm/Packages.db'],
      ['pkg:rpm/sles/glibc@2.31-150300.46.1?arch=x86_64&epoch=2', '/usr/lib/sysimage/rpm/Packages.db'],
      ['pkg:rpm/sles/zypper@1.14-1?arch=x86_64&epoch=2', '/usr/lib/sysimage/rpm/Packages.db'],
    ]);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

const hasRpm = ((): boolean => { try { execFileSync('rpmbuild', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();

test('real rpm: a package built by rpmbuild, installed into an rpmdb.sqlite by rpm, moved into a BerkeleyDB that rpm (bdb_ro) reads back; same packages from every form', { skip: hasRpm ? false : 'rpm/rpmbuild not installed (apt-get install rpm)' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rpmreal-'));
  try {
    await mkdir(join(dir, 'top/SPECS'), { recursive: true });
    await writeFile(join(dir, 'top/SPECS/e.spec'), `Name: emptypkg\nVersion: 2.5\nRelease: 3.el8\nEpoch: 1\nSummary: empty\nLicense: MIT\nBuildArch: noarch\n%description\n${'An empty package. '.repeat(400)}\n%files\n`);
    execFileSync('rpmbuild', ['--define', `_topdir ${join(dir, 'top')}`, '-bb', join(dir, 'top/SPECS/e.spec')], { stdio: 'ignore' });
    const rpmFile = join(dir, 'top/RPMS/noarch/emptypkg-2.5-3.el8.noarch.rpm');
    const sq = join(dir, 'sq');
    execFileSync('rpm', ['--dbpath', sq, '--define', '_db_backend sqlite', '-i', '--justdb', '--nodeps', '--noscripts', '--ignoreos', rpmFile], { stdio: 'ignore' });
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(join(sq, 'rpmdb.sqlite'), { readOnly: true });
    const blobs = db.prepare('SELECT blob FROM Packages').all().map((r) => Buffer.from(r['blob'] as Uint8Array));
    db.close();
    assert.equal(blobs.length, 1);
    assert.ok((blobs[0]?.length ?? 0) > 4096, 'the real header needs overflow pages');
    const bdb = join(dir, 'bdb');
    await mkdir(bdb);
    const counter = Buffer.alloc(4); counter.writeUInt32LE(2);
    bdbLoad(join(bdb, 'Packages'), [counter, ...blobs], 4096);
    const q = execFileSync('rpm', ['--dbpath', bdb, '--define', '_db_backend bdb_ro', '-qa', '--qf', '%{EPOCH}:%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    assert.equal(q, '1:emptypkg-2.5-3.el8.noarch\n');
    const want = 'pkg:rpm/rhel/emptypkg@2.5-3.el8?arch=noarch&epoch=1';
    assert.deepEqual(scanRpmBdb(join(bdb, 'Packages'), 'rhel', '/x').map((p) => [p.purl, p.license]), [[want, 'MIT']]);
    assert.deepEqual((await scanRpmSqlite(join(sq, 'rpmdb.sqlite'), 'rhel', '/x')).map((p) => p.purl), [want]);
    await writeFile(join(dir, 'Packages.db'), ndbFile(blobs));
    assert.deepEqual(scanRpmBdb(join(dir, 'Packages.db'), 'rhel', '/x', 'ndb').map((p) => p.purl), [want]);
  } finally { await rm(dir, { recursive: true, force: true }); }
});
