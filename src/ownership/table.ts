// The ownership table of a non-root build: owner, permission bits (setuid/setgid/sticky included) and, for device
// nodes that cannot be created without CAP_MKNOD, the device itself, keyed by path in the build root ('/a/b').
// Without root the filesystem cannot hold other users' owners, setuid files of others or devices: the table holds
// them instead, and the layer writer asks it before the filesystem. Pure: no filesystem calls, no module state.

export type DeviceKind = 'char' | 'block';

export interface OwnerRecord {
  readonly uid: number;
  readonly gid: number;
  /** Permission bits, 0o7777. */
  readonly mode: number;
  /** A device node recorded, not created (a placeholder regular file stands on disk). */
  readonly device?: { readonly kind: DeviceKind; readonly major: number; readonly minor: number };
}

/** A mutable cell: hard links share one, so a chown through one name shows through every name (one inode). */
interface Cell { rec: OwnerRecord }

export class OwnershipTable {
  readonly #cells = new Map<string, Cell>();

  get size(): number {
    return this.#cells.size;
  }

  get(rootPath: string): OwnerRecord | undefined {
    return this.#cells.get(rootPath)?.rec;
  }

  /** A new node at rootPath (it replaces whatever was there, and is no longer linked to other names). */
  set(rootPath: string, rec: OwnerRecord): void {
    this.#cells.set(rootPath, { rec });
  }

  /** chown of an existing node (through any of its hard-link names); unknown ⇒ recorded with `mode`. */
  chown(rootPath: string, uid: number, gid: number, modeIfUnknown: number): void {
    const cell = this.#cells.get(rootPath);
    if (cell === undefined) this.set(rootPath, { uid, gid, mode: modeIfUnknown & 0o7777 });
    else cell.rec = { ...cell.rec, uid, gid };
  }

  /** A hard link: `linkPath` names the same node as `targetPath` (which has no record ⇒ none for the link either). */
  link(targetPath: string, linkPath: string): void {
    const cell = this.#cells.get(targetPath);
    if (cell === undefined) this.#cells.delete(linkPath);
    else this.#cells.set(linkPath, cell);
  }

  /** rootPath and everything below it are gone (a whiteout, a replaced directory, an opaque prune). */
  remove(rootPath: string): void {
    this.#cells.delete(rootPath);
    const prefix = rootPath === '/' ? '/' : `${rootPath}/`;
    for (const p of this.#cells.keys()) if (p.startsWith(prefix)) this.#cells.delete(p);
  }

  /** Every path with its record. */
  entries(): IterableIterator<[string, OwnerRecord]> {
    const it = this.#cells.entries();
    return (function* (): IterableIterator<[string, OwnerRecord]> {
      for (const [p, cell] of it) yield [p, cell.rec];
    })();
  }
}

/**
 * The mode a node gets ON DISK in a non-root build: the owner (us) can always read, write and enter it, so the
 * build can go on writing, replacing and reading it for the layer; setuid/setgid/sticky stay in the table only.
 */
export function diskMode(mode: number, isDirectory: boolean): number {
  return (mode & 0o777) | (isDirectory ? 0o700 : 0o600);
}
