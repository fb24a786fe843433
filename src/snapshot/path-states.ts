// The snapshotter's memory of the tree: one compact record per root path, stored column-wise in typed arrays
// (struct of arrays). A record is 9 numbers (≈ 60 bytes) plus the Map entry for its path, so 100k paths cost a
// few MB where 100k Stats objects would cost tens. Slots of removed paths are reused.
import type { BigIntStats } from 'node:fs';

const initialCapacity = 1024;

/** File type bits of st_mode (S_IFMT) and the directory type. */
export const typeMask = 0o170000;
export const dirType = 0o040000;

export class PathStates {
  readonly #slots = new Map<string, number>();
  readonly #free: number[] = [];
  #next = 0;
  #capacity = 0;
  // Columns; a slot indexes all of them.
  #mtime = new BigInt64Array(0);
  #ctime = new BigInt64Array(0);
  /** Birth time (statx btime; 0 where the filesystem has none): tells a recreated directory from the old one
   *  when the filesystem hands the freed inode number straight back (ext4 does). */
  #btime = new BigInt64Array(0);
  #ino = new BigUint64Array(0);
  #size = new Float64Array(0);
  #mode = new Uint32Array(0);
  #uid = new Uint32Array(0);
  #gid = new Uint32Array(0);
  /** Walk generation that last saw the slot: a baseline path not seen by the current walk was deleted. */
  #seen = new Uint32Array(0);

  get size(): number {
    return this.#slots.size;
  }

  slotOf(rootPath: string): number | undefined {
    return this.#slots.get(rootPath);
  }

  /** Stores `st` for `rootPath` (new or existing) and marks it seen in generation `gen`. */
  record(rootPath: string, st: BigIntStats, gen: number): number {
    let slot = this.#slots.get(rootPath);
    if (slot === undefined) {
      slot = this.#allocate();
      this.#slots.set(rootPath, slot);
    }
    this.#mtime[slot] = st.mtimeNs;
    this.#ctime[slot] = st.ctimeNs;
    this.#btime[slot] = st.birthtimeNs;
    this.#ino[slot] = st.ino;
    this.#size[slot] = Number(st.size);
    this.#mode[slot] = Number(st.mode);
    this.#uid[slot] = Number(st.uid);
    this.#gid[slot] = Number(st.gid);
    this.#seen[slot] = gen;
    return slot;
  }

  markSeen(slot: number, gen: number): void {
    this.#seen[slot] = gen;
  }

  seenIn(slot: number, gen: number): boolean {
    return this.#seen[slot] === gen;
  }

  mode(slot: number): number {
    return this.#mode[slot] ?? 0;
  }

  isDirectory(slot: number): boolean {
    return ((this.#mode[slot] ?? 0) & typeMask) === dirType;
  }

  /** Same file type (regular, directory, symlink, …) as recorded. */
  sameType(slot: number, st: BigIntStats): boolean {
    return ((this.#mode[slot] ?? 0) & typeMask) === (Number(st.mode) & typeMask);
  }

  /** The recorded inode is gone and a new one took the name: removed and recreated. A new inode number or
   *  birth time says so; the ctime condition guards against filesystems that renumber a cached inode
   *  (overlayfs across filesystems), which keeps its ctime. */
  replaced(slot: number, st: BigIntStats): boolean {
    return (this.#ino[slot] !== st.ino || this.#btime[slot] !== st.birthtimeNs) && this.#ctime[slot] !== st.ctimeNs;
  }

  sameMtime(slot: number, st: BigIntStats): boolean {
    return this.#mtime[slot] === st.mtimeNs;
  }

  sameCtime(slot: number, st: BigIntStats): boolean {
    return this.#ctime[slot] === st.ctimeNs;
  }

  sameInode(slot: number, st: BigIntStats): boolean {
    return this.#ino[slot] === st.ino;
  }

  sameSize(slot: number, st: BigIntStats): boolean {
    return this.#size[slot] === Number(st.size);
  }

  sameMode(slot: number, st: BigIntStats): boolean {
    return this.#mode[slot] === Number(st.mode);
  }

  sameOwner(slot: number, st: BigIntStats): boolean {
    return this.#uid[slot] === Number(st.uid) && this.#gid[slot] === Number(st.gid);
  }

  /** Every recorded path with its slot (live view: do not delete while iterating a different Map). */
  entries(): IterableIterator<[string, number]> {
    return this.#slots.entries();
  }

  delete(rootPath: string): void {
    const slot = this.#slots.get(rootPath);
    if (slot === undefined) return;
    this.#slots.delete(rootPath);
    this.#free.push(slot);
  }

  clear(): void {
    this.#slots.clear();
    this.#free.length = 0;
    this.#next = 0;
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    if (this.#next === this.#capacity) this.#grow(Math.max(initialCapacity, this.#capacity * 2));
    return this.#next++;
  }

  #grow(capacity: number): void {
    const big = (old: BigInt64Array<ArrayBuffer>): BigInt64Array<ArrayBuffer> => { const a = new BigInt64Array(capacity); a.set(old); return a; };
    const num = (old: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> => { const a = new Uint32Array(capacity); a.set(old); return a; };
    this.#mtime = big(this.#mtime);
    this.#ctime = big(this.#ctime);
    this.#btime = big(this.#btime);
    const ino = new BigUint64Array(capacity);
    ino.set(this.#ino);
    this.#ino = ino;
    const size = new Float64Array(capacity);
    size.set(this.#size);
    this.#size = size;
    this.#mode = num(this.#mode);
    this.#uid = num(this.#uid);
    this.#gid = num(this.#gid);
    this.#seen = num(this.#seen);
    this.#capacity = capacity;
  }
}
