import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import {
  goBuildInfoBytes, parseApkInstalled, parseDpkgStatus, parseGoBuildInfo, parseNpmPackageJson, parsePythonMetadata, parseRpmHeader, scanRoot, scanRpmSqlite,
} from './packages.ts';
import { spdxDocument } from './spdx.ts';
import { attestationManifest, statement, SPDX_PREDICATE } from './in-toto.ts';
import { rpmHeader } from '../../test/support/rpm-header.ts';

const dpkgStatus = `Package: bash
Status: install ok installed
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Version: 5.2.15-2+b7
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
`;

test('dpkg status: installed packages with deb purls (+ as %2B), removed ones skipped', () => {
  const pkgs = parseDpkgStatus(dpkgStatus, 'debian');
  assert.deepEqual(pkgs.map((p) => p.purl), ['pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64', 'pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all']);
  assert.equal(pkgs[0]?.supplier, 'Matthias Klose <doko@debian.org>');
});

test('apk installed: name, version, arch, license', () => {
  const pkgs = parseApkInstalled('C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n', 'alpine');
  assert.deepEqual(pkgs.map((p) => [p.name, p.version, p.purl, p.license]), [
    ['musl', '1.2.4-r2', 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64', 'MIT'],
    ['busybox', '1.36.1-r5', 'pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64', 'GPL-2.0-only'],
  ]);
});

test('npm package.json: plain and scoped names', () => {
  assert.equal(parseNpmPackageJson('{"name":"left-pad","version":"1.3.0","license":"WTFPL"}', '/x')?.purl, 'pkg:npm/left-pad@1.3.0');
  assert.equal(parseNpmPackageJson('{"name":"@types/node","version":"24.0.0"}', '/x')?.purl, 'pkg:npm/%40types/node@24.0.0');
  assert.equal(parseNpmPackageJson('{"name":"x"}', '/x'), undefined);
  assert.equal(parseNpmPackageJson('not json', '/x'), undefined);
});

test('Python METADATA: name, version, license; pypi purl lower-cased', () => {
  const p = parsePythonMetadata('Metadata-Version: 2.1\nName: Requests\nVersion: 2.31.0\nLicense: Apache-2.0\n\nlong description\nName: nope\n', '/m');
  assert.deepEqual([p?.name, p?.version, p?.purl, p?.license], ['Requests', '2.31.0', 'pkg:pypi/requests@2.31.0', 'Apache-2.0']);
});


test('rpm: header tags, and rpmdb.sqlite read through node:sqlite', async () => {
  const blob = rpmHeader([[1000, 6, 'bash'], [1001, 6, '5.2.26'], [1002, 6, '1.fc40'], [1003, 4, 1], [1022, 6, 'x86_64'], [1014, 6, 'GPL-3.0-or-later']]);
  assert.equal(parseRpmHeader(blob).get(1000), 'bash');
  const dir = await mkdtemp(join(tmpdir(), 'rpmdb-'));
  try {
    const db = new DatabaseSync(join(dir, 'rpmdb.sqlite'));
    db.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
    db.prepare('INSERT INTO Packages (blob) VALUES (?)').run(blob);
    db.prepare('INSERT INTO Packages (blob) VALUES (?)').run(rpmHeader([[1000, 6, 'gpg-pubkey'], [1001, 6, '1']]));
    db.close();
    const pkgs = await scanRpmSqlite(join(dir, 'rpmdb.sqlite'), 'fedora', '/var/lib/rpm/rpmdb.sqlite');
    assert.deepEqual(pkgs.map((p) => [p.name, p.version, p.purl, p.license]), [
      ['bash', '5.2.26-1.fc40', 'pkg:rpm/fedora/bash@5.2.26-1.fc40?arch=x86_64&epoch=1', 'GPL-3.0-or-later'],
    ]);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

/** A fake ELF holding Go 1.18+ build info (magic at a 16-byte boundary, inline varint strings). */
function goBinary(): Buffer {
  const mod = 'path\texample.com/app\nmod\texample.com/app\tv1.0.0\th1:x=\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:y=\n';
  const sentinel = Buffer.alloc(16, 0x30);
  const str = (s: Buffer): Buffer => Buffer.concat([Buffer.from([s.length & 0x7f | (s.length > 127 ? 0x80 : 0), ...(s.length > 127 ? [s.length >> 7] : [])]), s]);
  const header = Buffer.alloc(32);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(header);
  header[14] = 8; header[15] = 2;
  return Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(60), header, str(Buffer.from('go1.22.1')), str(Buffer.concat([sentinel, Buffer.from(mod), sentinel])), Buffer.alloc(32)]);
}

test('Go build info: main module, dependencies and stdlib with golang purls', () => {
  const pkgs = parseGoBuildInfo(goBinary(), '/usr/bin/app');
  assert.deepEqual(pkgs.map((p) => p.purl), ['pkg:golang/example.com/app@v1.0.0', 'pkg:golang/github.com/pkg/errors@v0.9.1', 'pkg:golang/stdlib@go1.22.1']);
  assert.deepEqual(parseGoBuildInfo(Buffer.from('\x7fELF not go'), '/x'), []);
});

test('scanRoot walks a filesystem: dpkg, node_modules (scoped too), dist-info, Go binaries; skips what it is told', async () => {
  const root = await mkdtemp(join(tmpdir(), 'scan-'));
  try {
    await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
    await writeFile(join(root, 'var/lib/dpkg/status'), dpkgStatus);
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/os-release'), 'NAME="Ubuntu"\nID=ubuntu\n');
    await mkdir(join(root, 'app/node_modules/left-pad'), { recursive: true });
    await writeFile(join(root, 'app/node_modules/left-pad/package.json'), '{"name":"left-pad","version":"1.3.0"}');
    await mkdir(join(root, 'app/node_modules/@scope/x'), { recursive: true });
    await writeFile(join(root, 'app/node_modules/@scope/x/package.json'), '{"name":"@scope/x","version":"2.0.0"}');
    await mkdir(join(root, 'usr/lib/python3/dist-packages/six-1.16.0.dist-info'), { recursive: true });
    await writeFile(join(root, 'usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA'), 'Name: six\nVersion: 1.16.0\n');
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await writeFile(join(root, 'usr/bin/app'), goBinary());
    await chmod(join(root, 'usr/bin/app'), 0o755);
    await mkdir(join(root, 'kaniko/node_modules/hidden'), { recursive: true });
    await writeFile(join(root, 'kaniko/node_modules/hidden/package.json'), '{"name":"hidden","version":"1.0.0"}');
    const pkgs = await scanRoot(root, { skip: ['/kaniko'] });
    const purls = pkgs.map((p) => p.purl).sort();
    assert.deepEqual(purls, [
      'pkg:deb/ubuntu/bash@5.2.15-2%2Bb7?arch=amd64', 'pkg:deb/ubuntu/tzdata@2024a-0%2Bdeb12u1?arch=all',
      'pkg:golang/example.com/app@v1.0.0', 'pkg:golang/github.com/pkg/errors@v0.9.1', 'pkg:golang/stdlib@go1.22.1',
      'pkg:npm/%40scope/x@2.0.0', 'pkg:npm/left-pad@1.3.0', 'pkg:pypi/six@1.16.0',
    ]);
    assert.equal(pkgs.find((p) => p.name === 'left-pad')?.location, '/app/node_modules/left-pad/package.json');
  } finally { await rm(root, { recursive: true, force: true }); }
});

test('SPDX 2.3 document and attestation manifest in BuildKit\'s layout', async () => {
  const pkgs = parseDpkgStatus(dpkgStatus, 'debian');
  const doc = spdxDocument(pkgs, { name: 'pkg:docker/r/app@latest', created: new Date('2024-01-02T03:04:05.678Z'), tool: 'kaniko-ts-0.1.0' });
  assert.equal(doc['spdxVersion'], 'SPDX-2.3');
  assert.deepEqual(doc['creationInfo'], { creators: ['Tool: kaniko-ts-0.1.0'], created: '2024-01-02T03:04:05Z' });
  const first = (doc['packages'] as { name: string; externalRefs: { referenceLocator: string }[] }[])[0];
  assert.equal(first?.externalRefs[0]?.referenceLocator, 'pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64');
  const digest = `sha256:${'a'.repeat(64)}` as Parameters<typeof attestationManifest>[0];
  const att = await attestationManifest(digest, [statement(SPDX_PREDICATE, doc, { names: ['pkg:docker/r/app@latest'], digest })]);
  assert.deepEqual(att.descriptor.platform, { architecture: 'unknown', os: 'unknown' });
  assert.deepEqual(att.descriptor.annotations, { 'vnd.docker.reference.digest': digest, 'vnd.docker.reference.type': 'attestation-manifest' });
  const manifest = await att.image.manifest();
  assert.equal(manifest.layers[0]?.mediaType, 'application/vnd.in-toto+json');
  assert.deepEqual(manifest.layers[0]?.annotations, { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' });
  assert.equal(att.descriptor.digest, await att.image.digest());
});

/** A minimal ELF64 LE with section headers: null, .shstrtab, .text, .go.buildinfo (holding `info`). */
function elfWithSections(info: Buffer | undefined): Buffer {
  const names = Buffer.from('\0.shstrtab\0.text\0.go.buildinfo\0');
  const sections: [number, Buffer][] = [[0, Buffer.alloc(0)], [1, names], [11, Buffer.alloc(16, 0x90)], ...(info !== undefined ? [[17, info] as [number, Buffer]] : [])];
  const header = Buffer.alloc(64);
  Buffer.from('\x7fELF', 'latin1').copy(header); header[4] = 2; header[5] = 1;
  let offset = 64;
  const bodies: Buffer[] = [];
  const entries = sections.map(([name, body]) => {
    const e = Buffer.alloc(64);
    e.writeUInt32LE(name, 0); e.writeBigUInt64LE(BigInt(offset), 0x18); e.writeBigUInt64LE(BigInt(body.length), 0x20);
    bodies.push(body); offset += body.length;
    return e;
  });
  header.writeBigUInt64LE(BigInt(offset), 0x28); header.writeUInt16LE(64, 0x3a); header.writeUInt16LE(sections.length, 0x3c); header.writeUInt16LE(1, 0x3e);
  return Buffer.concat([header, ...bodies, ...entries]);
}

/** A Go 1.13–1.17 binary: .go.buildinfo holds two pointers to string headers in .rodata (addresses from 0x400000). */
function oldGoElf(): Buffer {
  const mod = 'path\texample.com/old\nmod\texample.com/old\tv0.3.0\th1:x=\ndep\tgolang.org/x/sys\tv0.1.0\th1:y=\n';
  const sentinel = Buffer.alloc(16, 0x30);
  const version = Buffer.from('go1.16.15');
  const modinfo = Buffer.concat([sentinel, Buffer.from(mod), sentinel]);
  const base = 0x400000;
  // .rodata: [string header version][string header modinfo][version bytes][modinfo bytes]
  const rodata = Buffer.alloc(32 + version.length + modinfo.length);
  rodata.writeBigUInt64LE(BigInt(base + 32), 0); rodata.writeBigUInt64LE(BigInt(version.length), 8);
  rodata.writeBigUInt64LE(BigInt(base + 32 + version.length), 16); rodata.writeBigUInt64LE(BigInt(modinfo.length), 24);
  version.copy(rodata, 32); modinfo.copy(rodata, 32 + version.length);
  const info = Buffer.alloc(32);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(info); info[14] = 8; info[15] = 0;
  info.writeBigUInt64LE(BigInt(base), 16); info.writeBigUInt64LE(BigInt(base + 16), 24);
  const names = Buffer.from('\0.shstrtab\0.rodata\0.go.buildinfo\0');
  const sections: [number, number, Buffer][] = [[0, 0, Buffer.alloc(0)], [1, 0, names], [11, base, rodata], [19, 0x500000, info]];
  const header = Buffer.alloc(64);
  Buffer.from('\x7fELF', 'latin1').copy(header); header[4] = 2; header[5] = 1;
  let offset = 64;
  const bodies: Buffer[] = [];
  const entries = sections.map(([name, addr, body]) => {
    const e = Buffer.alloc(64);
    e.writeUInt32LE(name, 0); e.writeUInt32LE(1, 4); e.writeBigUInt64LE(BigInt(addr), 0x10);
    e.writeBigUInt64LE(BigInt(offset), 0x18); e.writeBigUInt64LE(BigInt(body.length), 0x20);
    bodies.push(body); offset += body.length;
    return e;
  });
  header.writeBigUInt64LE(BigInt(offset), 0x28); header.writeUInt16LE(64, 0x3a); header.writeUInt16LE(sections.length, 0x3c); header.writeUInt16LE(1, 0x3e);
  return Buffer.concat([header, ...bodies, ...entries]);
}

test('Go 1.13–1.17 build info (pointers to string headers) is resolved through the ELF sections', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'elf-old-'));
  try {
    await writeFile(join(dir, 'old'), oldGoElf());
    const bytes = goBuildInfoBytes(join(dir, 'old'));
    assert.ok(bytes !== undefined);
    assert.deepEqual(parseGoBuildInfo(bytes, '/old').map((p) => p.purl),
      ['pkg:golang/example.com/old@v0.3.0', 'pkg:golang/golang.org/x/sys@v0.1.0', 'pkg:golang/stdlib@go1.16.15']);
  } finally { await rm(dir, { recursive: true, force: true }); }
});

test('Go build info is read from the ELF .go.buildinfo section; an ELF without one is not read further', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'elf-'));
  try {
    const info = goBinary().subarray(64);
    await writeFile(join(dir, 'go'), elfWithSections(info));
    await writeFile(join(dir, 'c'), elfWithSections(undefined));
    await writeFile(join(dir, 'text'), 'not an elf');
    const bytes = goBuildInfoBytes(join(dir, 'go'));
    assert.ok(bytes !== undefined);
    assert.deepEqual(parseGoBuildInfo(bytes, '/go').map((p) => p.name), ['example.com/app', 'github.com/pkg/errors', 'stdlib']);
    assert.equal(goBuildInfoBytes(join(dir, 'c')), undefined);
    assert.equal(goBuildInfoBytes(join(dir, 'text')), undefined);
  } finally { await rm(dir, { recursive: true, force: true }); }
});
