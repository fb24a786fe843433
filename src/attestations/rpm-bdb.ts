// rpm's BerkeleyDB hash `Packages` file (/var/lib/rpm/Packages: RHEL/CentOS 7–8, UBI 8, Amazon Linux 2), read in
// pure TypeScript as go-rpmdb's pkg/bdb does: the metadata page, then every hash page's data items (inline
// H_KEYDATA or H_OFFPAGE → a chain of P_OVERFLOW pages). Each value is an rpm header blob. Bounded: page size and
// count checked, every overflow chain walked with a visited set; a corrupt file throws one Error.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const HASH_MAGIC = 0x061561;
const P_HASH_UNSORTED = 2;
const P_HASH = 13;
const P_OVERFLOW = 7;
const H_KEYDATA = 1;
const H_OFFPAGE = 3;
const PAGE_HEADER = 26;
const MAX_PAGES = 1 << 22;
const MAX_VALUE = 256 << 20;

/** Every value blob in a BerkeleyDB hash database file (keys ignored). */
export function readBdbHashValues(path: string): Buffer[] {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const meta = Buffer.alloc(512);
    if (readSync(fd, meta, 0, 512, 0) < 512) throw new Error('BerkeleyDB: file shorter than its metadata page');
    const le = meta.readUInt32LE(12) === HASH_MAGIC;
    if (!le && meta.readUInt32BE(12) !== HASH_MAGIC) throw new Error('BerkeleyDB: not a hash database (magic)');
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const pageSize = u32(meta, 20);
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new Error(`BerkeleyDB: bad page size ${pageSize}`);
    if (meta[24] !== 0) throw new Error('BerkeleyDB: encrypted database');
    const lastPage = u32(meta, 32);
    if (lastPage > MAX_PAGES || (lastPage + 1) * pageSize > size + pageSize) throw new Error(`BerkeleyDB: bad last page ${lastPage}`);
    const page = (n: number): Buffer => {
      const b = Buffer.alloc(pageSize);
      if (readSync(fd, b, 0, pageSize, n * pageSize) < pageSize) throw new Error(`BerkeleyDB: page ${n} past the end`);
      return b;
    };
    const overflow = (first: number, total: number): Buffer => {
      if (total > MAX_VALUE) throw new Error(`BerkeleyDB: value of ${total} bytes`);
      const parts: Buffer[] = [];
      let got = 0;
      const visited = new Set<number>();
      for (let n = first; n !== 0 && got < total; ) {
        if (n > lastPage || visited.has(n)) throw new Error(`BerkeleyDB: bad overflow chain at page ${n}`);
        visited.add(n);
        const p = page(n);
        if (p[25] !== P_OVERFLOW) throw new Error(`BerkeleyDB: page ${n} is not an overflow page`);
        const used = u16(p, 22); // hf_offset: bytes used on an overflow page
        if (PAGE_HEADER + used > pageSize) throw new Error(`BerkeleyDB: overflow page ${n} length`);
        parts.push(p.subarray(PAGE_HEADER, PAGE_HEADER + used));
        got += used;
        n = u32(p, 16);
      }
      if (got < total) throw new Error('BerkeleyDB: overflow chain ends early');
      return Buffer.concat(parts).subarray(0, total);
    };
    const values: Buffer[] = [];
    for (let n = 1; n <= lastPage; n++) {
      const p = page(n);
      if (p[25] !== P_HASH && p[25] !== P_HASH_UNSORTED) continue;
      const entries = u16(p, 20);
      if (PAGE_HEADER + entries * 2 > pageSize) throw new Error(`BerkeleyDB: page ${n} entry count`);
      const at = (i: number): number => u16(p, PAGE_HEADER + i * 2);
      // Entries alternate key, value; an item's length runs to the previous item's offset (item 0: the page end).
      for (let i = 1; i < entries; i += 2) {
        const off = at(i);
        const end = at(i - 1);
        if (off < PAGE_HEADER || off >= pageSize || end > pageSize) throw new Error(`BerkeleyDB: page ${n} item offset`);
        if (p[off] === H_KEYDATA) {
          if (end <= off) throw new Error(`BerkeleyDB: page ${n} item length`);
          values.push(Buffer.from(p.subarray(off + 1, end)));
        } else if (p[off] === H_OFFPAGE) {
          if (off + 12 > pageSize) throw new Error(`BerkeleyDB: page ${n} off-page item`);
          values.push(overflow(u32(p, off + 4), u32(p, off + 8)));
        }
      }
    }
    return values;
  } finally { closeSync(fd); }
}

// SUSE's ndb (/usr/lib/sysimage/rpm/Packages.db), as go-rpmdb's pkg/ndb and rpm's rpmpkg.c: little-endian; a
// 32-byte header ('RpmP', version 0, generation, slot page count) then 16-byte slots ('Slot', package index, block
// offset, block count) filling the slot pages; each blob starts at offset × 16 with a header ('BlbS', package index,
// checksum, length) and holds one rpm header.
const NDB_HEADER_MAGIC = 0x506d7052; // 'RpmP'
const NDB_SLOT_MAGIC = 0x746f6c53; // 'Slot'
const NDB_BLOB_MAGIC = 0x53626c42; // 'BlbS'
const NDB_MAX_SLOT_PAGES = 2048;

/** Every package blob in an rpm ndb Packages.db file. */
export function readNdbValues(path: string): Buffer[] {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(32);
    if (readSync(fd, head, 0, 32, 0) < 32 || head.readUInt32LE(0) !== NDB_HEADER_MAGIC) throw new Error('ndb: not an rpm ndb database (magic)');
    if (head.readUInt32LE(4) !== 0) throw new Error(`ndb: unsupported version ${head.readUInt32LE(4)}`);
    const slotPages = head.readUInt32LE(12);
    if (slotPages === 0 || slotPages > NDB_MAX_SLOT_PAGES || slotPages * 4096 > size) throw new Error(`ndb: bad slot page count ${slotPages}`);
    const slots = Buffer.alloc(slotPages * 4096 - 32);
    if (readSync(fd, slots, 0, slots.length, 32) < slots.length) throw new Error('ndb: slot pages past the end');
    const values: Buffer[] = [];
    for (let at = 0; at + 16 <= slots.length; at += 16) {
      if (slots.readUInt32LE(at) !== NDB_SLOT_MAGIC) throw new Error(`ndb: bad slot magic at ${32 + at}`);
      const pkgIndex = slots.readUInt32LE(at + 4);
      if (pkgIndex === 0) continue;
      const offset = slots.readUInt32LE(at + 8) * 16;
      const blocks = slots.readUInt32LE(at + 12);
      const blob = Buffer.alloc(16);
      if (offset < slotPages * 4096 || readSync(fd, blob, 0, 16, offset) < 16) throw new Error(`ndb: package ${pkgIndex} offset`);
      if (blob.readUInt32LE(0) !== NDB_BLOB_MAGIC || blob.readUInt32LE(4) !== pkgIndex) throw new Error(`ndb: package ${pkgIndex} bad blob header`);
      const len = blob.readUInt32LE(12);
      if (len > MAX_VALUE || 16 + len > blocks * 16 || offset + 16 + len > size) throw new Error(`ndb: package ${pkgIndex} length ${len}`);
      const value = Buffer.alloc(len);
      readSync(fd, value, 0, len, offset + 16);
      values.push(value);
    }
    return values;
  } finally { closeSync(fd); }
}
