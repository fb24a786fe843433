// Non-root RUN (issue 19): the ownership table handed to the fake-root supervisor (native/fakeroot-supervisor.c)
// before the command, and rebuilt from what it recorded afterwards. The supervisor keys records by (device, inode),
// the table by path: in, each path is listed (the supervisor lstat's it); out, the root is walked once and every
// path whose node has a record gets it (hard links share it). The root is '/' in container mode, the --root-dir
// directory otherwise (host paths either way: the supervisor's emulated chroot works on host paths).
import type { BigIntStats } from 'node:fs';
import { lstatSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { OwnerRecord, OwnershipTable } from '../ownership/table.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';

/** The supervisor ships next to run-in-root (the kaniko directory, or .tools/bin). */
export function supervisorPathFor(helperPath: string): string {
  return join(dirname(helperPath), 'fakeroot-supervisor');
}

function hostPath(root: string, rootPath: string): string {
  return root === '/' ? rootPath : root + rootPath;
}

/** The table as the supervisor reads it: "uid gid mode kind major minor path", each record ended by a NUL. */
export function fakerootTableText(table: OwnershipTable, root: string): string {
  const parts: string[] = [];
  for (const [p, rec] of table.entries()) {
    const d = rec.device;
    const kind = d === undefined ? '-' : d.kind === 'char' ? 'c' : 'b';
    parts.push(`${rec.uid} ${rec.gid} ${(rec.mode & 0o7777).toString(8)} ${kind} ${d?.major ?? 0} ${d?.minor ?? 0} ${hostPath(root, p)}\0`);
  }
  return parts.join('');
}

export async function writeFakerootTable(table: OwnershipTable, root: string, file: string): Promise<void> {
  await writeFile(file, fakerootTableText(table, root), { mode: 0o600 });
}

/** "dev ino uid gid mode kind major minor" lines → records by "dev:ino". */
export function parseFakerootTable(text: string): Map<string, OwnerRecord> {
  const out = new Map<string, OwnerRecord>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length !== 8) continue;
    const [dev, ino, uid, gid, mode, kind, major, minor] = f as [string, string, string, string, string, string, string, string];
    const rec: OwnerRecord = {
      uid: Number(uid), gid: Number(gid), mode: parseInt(mode, 8) & 0o7777,
      ...(kind === 'c' || kind === 'b' ? { device: { kind: kind === 'c' ? 'char' : 'block', major: Number(major), minor: Number(minor) } } : {}),
    };
    out.set(`${dev}:${ino}`, rec);
  }
  return out;
}

/**
 * After the RUN: every path of the root (ignored paths excepted) whose node the supervisor holds a record for gets
 * it; every other path has none (a node the command created as fake root: 0:0 with the mode on disk). Returns the
 * number of paths with a record.
 */
export async function applyFakerootTable(table: OwnershipTable, root: string, file: string, ignore: IgnoreList): Promise<number> {
  const records = parseFakerootTable(await readFile(file, 'utf8'));
  const byNode = new Map<string, string>();
  const next: [string, OwnerRecord, string | undefined][] = [];
  const stack: string[] = ['/'];
  let n = 0;
  for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
    let names: string[];
    try {
      names = readdirSync(hostPath(root, dir === '/' ? '' : dir) || '/');
    } catch {
      continue; // vanished or unreadable
    }
    for (const name of names) {
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (ignore.ignores(p)) continue;
      let st: BigIntStats;
      try {
        st = lstatSync(hostPath(root, p), { bigint: true });
      } catch {
        continue;
      }
      if (st.isDirectory()) stack.push(p);
      const key = `${st.dev}:${st.ino}`;
      const rec = records.get(key);
      if (rec === undefined) continue;
      const first = byNode.get(key);
      if (first === undefined) byNode.set(key, p);
      next.push([p, rec, first]);
      if (++n % 4096 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  table.remove('/');
  for (const [p, rec, linkOf] of next) {
    if (linkOf === undefined) table.set(p, rec);
    else table.link(linkOf, p);
  }
  return next.length;
}
