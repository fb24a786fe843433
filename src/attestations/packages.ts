// Package scanners over a built image's filesystem (the build root after the last step): dpkg, apk, rpm
// (rpmdb.sqlite through Node's built-in node:sqlite, BerkeleyDB hash Packages and ndb Packages.db through rpm-bdb.ts), npm node_modules, Python *.dist-info and Go binaries' build info.
// Each finds name, version and a purl (packageurl-js). Pure reads; nothing outside `root` is followed.
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { PackageURL } from 'packageurl-js';
import { readBdbHashValues, readNdbValues } from './rpm-bdb.ts';

export type PackageType = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang';

export interface FoundPackage {
  readonly type: PackageType;
  readonly name: string;
  readonly version: string;
  readonly purl: string;
  /** Where it was found, relative to the root (e.g. /var/lib/dpkg/status). */
  readonly location: string;
  readonly license?: string;
  readonly supplier?: string;
}

/** A purl string; '+' is written %2B as syft and BuildKit's SBOMs do (`pkg:deb/debian/bash@5.2.15-2%2Bb7`). */
export function purlOf(type: string, namespace: string | undefined, name: string, version: string, qualifiers?: Record<string, string>): string {
  const q = qualifiers !== undefined && Object.keys(qualifiers).length > 0 ? qualifiers : undefined;
  return new PackageURL(type, namespace, name, version, q, undefined).toString().replaceAll('+', '%2B');
}

function readText(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}

/** /etc/os-release's ID (debian, ubuntu, alpine, fedora …); the purl namespace of OS packages. */
export function osId(root: string, fallback: string): string {
  const text = readText(join(root, 'etc/os-release')) ?? readText(join(root, 'usr/lib/os-release')) ?? '';
  const m = /^ID=("?)([^"\n]+)\1$/m.exec(text);
  return m?.[2] ?? fallback;
}

/** RFC 822-style stanzas separated by blank lines; continuation lines join the previous field. */
function stanzas(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of block.split('\n')) {
      if (/^[ \t]/.test(line) && last !== undefined) { fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`); continue; }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon).trim();
      fields.set(last, line.slice(colon + 1).trim());
    }
    if (fields.size > 0) out.push(fields);
  }
  return out;
}

export function parseDpkgStatus(text: string, namespace: string, location = '/var/lib/dpkg/status'): FoundPackage[] {
  const out: FoundPackage[] = [];
  for (const f of stanzas(text)) {
    const name = f.get('Package');
    const version = f.get('Version');
    const status = f.get('Status') ?? 'install ok installed';
    if (name === undefined || version === undefined || !status.endsWith(' installed')) continue;
    const arch = f.get('Architecture');
    out.push({
      type: 'deb', name, version, location, purl: purlOf('deb', namespace, name, version, arch !== undefined ? { arch } : undefined),
      ...(f.get('Maintainer') !== undefined ? { supplier: f.get('Maintainer') ?? '' } : {}),
    });
  }
  return out;
}

/** apk's installed database: one letter per line (P name, V version, A arch, L license), packages separated by blank lines. */
export function parseApkInstalled(text: string, namespace: string, location = '/lib/apk/db/installed'): FoundPackage[] {
  const out: FoundPackage[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of block.split('\n')) if (line.length > 2 && line[1] === ':' && !f.has(line[0] ?? '')) f.set(line[0] ?? '', line.slice(2));
    const name = f.get('P');
    const version = f.get('V');
    if (name === undefined || version === undefined) continue;
    const arch = f.get('A');
    out.push({
      type: 'apk', name, version, location, purl: purlOf('apk', namespace, name, version, arch !== undefined ? { arch } : undefined),
      ...(f.get('L') !== undefined ? { license: f.get('L') ?? '' } : {}),
      ...(f.get('m') !== undefined ? { supplier: f.get('m') ?? '' } : {}),
    });
  }
  return out;
}

// rpm header tags (rpmtag.h) and the string type.
const RPMTAG = { name: 1000, version: 1001, release: 1002, epoch: 1003, license: 1014, vendor: 1011, arch: 1022 } as const;

/** Reads the tags we need from one rpm header blob (as rpmdb.sqlite's Packages.blob stores it: il, dl, index, data). */
export function parseRpmHeader(blob: Uint8Array): Map<number, string> {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const il = view.getUint32(0);
  const dl = view.getUint32(4);
  const dataStart = 8 + il * 16;
  if (il > 100000 || dataStart + dl > blob.byteLength) throw new Error('rpm header: bad index or data length');
  const tags = new Map<number, string>();
  const wanted = new Set<number>(Object.values(RPMTAG));
  for (let i = 0; i < il; i++) {
    const at = 8 + i * 16;
    const tag = view.getUint32(at);
    const type = view.getUint32(at + 4);
    const offset = view.getInt32(at + 8);
    if (!wanted.has(tag) || offset < 0 || offset >= dl) continue;
    const start = dataStart + offset;
    if (type === 4) { tags.set(tag, String(view.getUint32(start))); continue; } // INT32
    if (type !== 6 && type !== 9 && type !== 8) continue; // STRING, I18NSTRING, STRING_ARRAY (first)
    let end = start;
    while (end < dataStart + dl && blob[end] !== 0) end++;
    tags.set(tag, new TextDecoder().decode(blob.subarray(start, end)));
  }
  return tags;
}

/** One rpm header blob as a package; undefined for gpg-pubkey, a blob without name/version, or one that is no header. */
export function rpmPackageOf(blob: Uint8Array, namespace: string, location: string): FoundPackage | undefined {
  let t: Map<number, string>;
  try { t = parseRpmHeader(blob); } catch { return undefined; }
  const name = t.get(RPMTAG.name);
  const ver = t.get(RPMTAG.version);
  if (name === undefined || ver === undefined || name === 'gpg-pubkey') return undefined;
  const release = t.get(RPMTAG.release);
  const version = release !== undefined ? `${ver}-${release}` : ver;
  const q: Record<string, string> = {};
  const arch = t.get(RPMTAG.arch);
  if (arch !== undefined) q['arch'] = arch;
  const epoch = t.get(RPMTAG.epoch);
  if (epoch !== undefined) q['epoch'] = epoch;
  return {
    type: 'rpm', name, version, location, purl: purlOf('rpm', namespace, name, version, q),
    ...(t.get(RPMTAG.license) !== undefined ? { license: t.get(RPMTAG.license) ?? '' } : {}),
    ...(t.get(RPMTAG.vendor) !== undefined ? { supplier: t.get(RPMTAG.vendor) ?? '' } : {}),
  };
}

export async function scanRpmSqlite(path: string, namespace: string, location: string): Promise<FoundPackage[]> {
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const out: FoundPackage[] = [];
    for (const row of db.prepare('SELECT blob FROM Packages').all()) {
      const blob = row['blob'];
      if (!(blob instanceof Uint8Array)) continue;
      const p = rpmPackageOf(blob, namespace, location);
      if (p !== undefined) out.push(p);
    }
    return out;
  } finally {
    db.close();
  }
}

/** rpm's BerkeleyDB hash Packages or SUSE's ndb Packages.db (rpm-bdb.ts); values that are no rpm header (key 0's counter) are skipped. */
export function scanRpmBdb(path: string, namespace: string, location: string, format: 'bdb' | 'ndb' = 'bdb'): FoundPackage[] {
  const out: FoundPackage[] = [];
  for (const blob of format === 'ndb' ? readNdbValues(path) : readBdbHashValues(path)) {
    const p = rpmPackageOf(blob, namespace, location);
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** An npm package.json (node_modules/NAME/package.json or node_modules/@SCOPE/NAME/package.json). */
export function parseNpmPackageJson(text: string, location: string): FoundPackage | undefined {
  let pkg: unknown;
  try { pkg = JSON.parse(text); } catch { return undefined; }
  if (typeof pkg !== 'object' || pkg === null) return undefined;
  const { name, version, license } = pkg as { name?: unknown; version?: unknown; license?: unknown };
  if (typeof name !== 'string' || typeof version !== 'string' || name === '' || version === '') return undefined;
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  const purl = slash > 0 ? purlOf('npm', name.slice(0, slash), name.slice(slash + 1), version) : purlOf('npm', undefined, name, version);
  return { type: 'npm', name, version, purl, location, ...(typeof license === 'string' ? { license } : {}) };
}

/** A Python *.dist-info/METADATA file (email-header style: Name, Version, License). */
export function parsePythonMetadata(text: string, location: string): FoundPackage | undefined {
  const head = text.split(/\n\n/)[0] ?? '';
  const f = stanzas(head)[0];
  const name = f?.get('Name');
  const version = f?.get('Version');
  if (name === undefined || version === undefined) return undefined;
  const license = f?.get('License-Expression') ?? f?.get('License');
  return { type: 'pypi', name, version, location, purl: purlOf('pypi', undefined, name, version),
    ...(license !== undefined && license !== '' && license !== 'UNKNOWN' ? { license } : {}) };
}

const GO_MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');

function uvarint(b: Buffer, at: number): [number, number] {
  let x = 0; let s = 0; let i = at;
  for (; i < b.length && i < at + 10; i++) {
    const c = b[i] ?? 0;
    x += (c & 0x7f) * 2 ** s;
    if (c < 0x80) return [x, i + 1];
    s += 7;
  }
  return [-1, i];
}

function uvarintBytes(n: number): Buffer {
  const out: number[] = [];
  let x = n;
  while (x >= 0x80) { out.push((x % 0x80) | 0x80); x = Math.floor(x / 0x80); }
  out.push(x);
  return Buffer.from(out);
}

/** Go build info (Go 1.18+: inline strings; older binaries through goBuildInfoBytes) from a binary's bytes: the main module and every dependency. */
export function parseGoBuildInfo(data: Buffer, location: string): FoundPackage[] {
  let at = data.indexOf(GO_MAGIC);
  while (at >= 0 && at % 16 !== 0) at = data.indexOf(GO_MAGIC, at + 1);
  if (at < 0 || ((data[at + 15] ?? 0) & 2) === 0) return [];
  let p = at + 32;
  const read = (): string | undefined => {
    const [n, next] = uvarint(data, p);
    if (n < 0 || next + n > data.length) return undefined;
    p = next + n;
    return data.subarray(next, next + n).toString('utf8');
  };
  const goVersion = read();
  const modinfo = read();
  if (goVersion === undefined || modinfo === undefined) return [];
  const out: FoundPackage[] = [];
  const text = modinfo.length >= 33 ? modinfo.slice(16, -16) : modinfo;
  for (const line of text.split('\n')) {
    const [kind, path, version] = line.split('\t');
    if ((kind !== 'mod' && kind !== 'dep') || path === undefined || version === undefined) continue;
    const slash = path.lastIndexOf('/');
    out.push({ type: 'golang', name: path, version, location,
      purl: slash > 0 ? purlOf('golang', path.slice(0, slash), path.slice(slash + 1), version) : purlOf('golang', undefined, path, version) });
  }
  out.push({ type: 'golang', name: 'stdlib', version: goVersion, location, purl: purlOf('golang', undefined, 'stdlib', goVersion) });
  return out;
}

function readAt(fd: number, offset: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  const n = readSync(fd, buf, 0, size, offset);
  return buf.subarray(0, n);
}

/**
 * The bytes holding a Go binary's build info: its ELF `.go.buildinfo` section (as debug/buildinfo reads it), so an
 * ELF without one is never read beyond its headers; an ELF without section headers is read whole. Undefined: no ELF.
 */
export function goBuildInfoBytes(path: string): Buffer | undefined {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return undefined; }
  try {
    const h = readAt(fd, 0, 64);
    if (h.length < 52 || h.toString('latin1', 0, 4) !== '\x7fELF') return undefined;
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const shoff = word(h, is64 ? 0x28 : 0x20);
    const shentsize = u16(h, is64 ? 0x3a : 0x2e);
    const shnum = u16(h, is64 ? 0x3c : 0x30);
    const shstrndx = u16(h, is64 ? 0x3e : 0x32);
    if (shoff === 0 || shnum === 0 || shentsize < (is64 ? 64 : 40) || shstrndx >= shnum) return readFileSync(path);
    const table = readAt(fd, shoff, shnum * shentsize);
    const section = (i: number): { name: number; type: number; addr: number; offset: number; size: number } => {
      const at = i * shentsize;
      return { name: u32(table, at), type: u32(table, at + 4), addr: word(table, at + (is64 ? 0x10 : 0x0c)),
        offset: word(table, at + (is64 ? 0x18 : 0x10)), size: word(table, at + (is64 ? 0x20 : 0x14)) };
    };
    if (table.length < shnum * shentsize) return undefined;
    const strtab = section(shstrndx);
    const names = readAt(fd, strtab.offset, Math.min(strtab.size, 1 << 20));
    for (let i = 0; i < shnum; i++) {
      const sec = section(i);
      const end = names.indexOf(0, sec.name);
      if (names.toString('latin1', sec.name, end < 0 ? names.length : end) !== '.go.buildinfo') continue;
      // Go ≥ 1.18 keeps the strings inline after the 32-byte header; 64 KiB covers the module list.
      const info = readAt(fd, sec.offset, Math.min(Math.max(sec.size, 64 * 1024), 16 << 20));
      if (info.length < 32 || !info.subarray(0, 14).equals(GO_MAGIC) || ((info[15] ?? 0) & 2) !== 0) return info;
      // Go 1.13–1.17: two pointers to Go string headers (runtime.buildVersion, runtime.modinfo), resolved through the
      // sections holding those addresses; given back in the 1.18 layout so one parser reads both.
      const all = Array.from({ length: shnum }, (_, k) => section(k)).filter((x) => x.type !== 8 && x.addr !== 0);
      const ptrSize = info[14] === 4 ? 4 : 8;
      const big = ((info[15] ?? 0) & 1) === 1;
      const ptr = (b: Buffer, o: number): number => (ptrSize === 8 ? Number(big ? b.readBigUInt64BE(o) : b.readBigUInt64LE(o)) : (big ? b.readUInt32BE(o) : b.readUInt32LE(o)));
      const mem = (addr: number, n: number): Buffer | undefined => {
        const holder = all.find((x) => addr >= x.addr && addr + n <= x.addr + x.size);
        return holder === undefined ? undefined : readAt(fd, holder.offset + (addr - holder.addr), n);
      };
      const goString = (addr: number): Buffer | undefined => {
        const head = mem(addr, 2 * ptrSize);
        if (head === undefined || head.length < 2 * ptrSize) return undefined;
        const len = ptr(head, ptrSize);
        return len > 16 << 20 ? undefined : len === 0 ? Buffer.alloc(0) : mem(ptr(head, 0), len);
      };
      const version = goString(ptr(info, 16));
      const modinfo = goString(ptr(info, 16 + ptrSize));
      if (version === undefined || modinfo === undefined) return undefined;
      const header = Buffer.alloc(32);
      GO_MAGIC.copy(header);
      header[14] = ptrSize; header[15] = 2;
      return Buffer.concat([header, uvarintBytes(version.length), version, uvarintBytes(modinfo.length), modinfo]);
    }
    return undefined;
  } catch { return undefined; } finally { closeSync(fd); }
}

export interface ScanOptions {
  /** Absolute paths inside the root (as the image sees them) not to walk: /proc, /sys, the executor's own dir … */
  readonly skip?: readonly string[];
  /** Go binaries larger than this are not read (default 256 MiB). */
  readonly maxBinaryBytes?: number;
  /** An unreadable package database (corrupt rpm BerkeleyDB …): one line; its packages are left out. Default: stderr. */
  readonly warn?: (line: string) => void;
}

/** Every package the scanners find under `root` (the image's filesystem). */
export async function scanRoot(root: string, opts: ScanOptions = {}): Promise<FoundPackage[]> {
  const found: FoundPackage[] = [];
  const dpkg = readText(join(root, 'var/lib/dpkg/status'));
  if (dpkg !== undefined) found.push(...parseDpkgStatus(dpkg, osId(root, 'debian')));
  const apk = readText(join(root, 'lib/apk/db/installed'));
  if (apk !== undefined) found.push(...parseApkInstalled(apk, osId(root, 'alpine')));
  for (const rel of ['var/lib/rpm/rpmdb.sqlite', 'usr/lib/sysimage/rpm/rpmdb.sqlite']) {
    if (existsSync(join(root, rel))) found.push(...await scanRpmSqlite(join(root, rel), osId(root, 'redhat'), `/${rel}`));
  }
  const warn = opts.warn ?? ((line: string): void => { process.stderr.write(`${line}\n`); });
  for (const [rel, format] of [['var/lib/rpm/Packages', 'bdb'], ['usr/lib/sysimage/rpm/Packages.db', 'ndb']] as const) {
    if (!existsSync(join(root, rel))) continue;
    try { found.push(...scanRpmBdb(join(root, rel), osId(root, 'redhat'), `/${rel}`, format)); } catch (e) {
      warn(`sbom: /${rel} not read: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const skip = new Set(['/proc', '/sys', '/dev', ...(opts.skip ?? [])]);
  const maxBinary = opts.maxBinaryBytes ?? 256 * 1024 * 1024;
  const seen = new Set<string>();
  const add = (p: FoundPackage | undefined): void => {
    if (p === undefined) return;
    const key = `${p.purl} ${p.location}`;
    if (!seen.has(key)) { seen.add(key); found.push(p); }
  };
  // One walk, no symlinks followed: node_modules packages, dist-info directories, ELF executables.
  const stack = ['/'];
  while (stack.length > 0) {
    const rel = stack.pop() ?? '/';
    let entries;
    try { entries = readdirSync(join(root, rel), { withFileTypes: true }); } catch { continue; }
    const inNodeModules = rel.endsWith('/node_modules') || /\/node_modules\/@[^/]+$/.test(rel);
    for (const e of entries) {
      const childRel = rel === '/' ? `/${e.name}` : `${rel}/${e.name}`;
      if (skip.has(childRel)) continue;
      const abs = join(root, childRel);
      if (e.isDirectory()) {
        if (inNodeModules && !e.name.startsWith('@') && !e.name.startsWith('.')) {
          const text = readText(join(abs, 'package.json'));
          if (text !== undefined) add(parseNpmPackageJson(text, `${childRel}/package.json`));
        }
        if (e.name.endsWith('.dist-info')) {
          const text = readText(join(abs, 'METADATA'));
          if (text !== undefined) add(parsePythonMetadata(text, `${childRel}/METADATA`));
        }
        stack.push(childRel);
      } else if (e.isFile()) {
        let st;
        try { st = lstatSync(abs); } catch { continue; }
        if ((st.mode & 0o111) === 0 || st.size < 64 || st.size > maxBinary) continue;
        const bytes = goBuildInfoBytes(abs);
        if (bytes !== undefined) for (const p of parseGoBuildInfo(bytes, childRel)) add(p);
      }
    }
  }
  return found;
}
