// Users and groups as the IMAGE defines them: /etc/passwd and /etc/group read from the
// build root (through resolveInRoot, so a symlinked /etc stays inside the root), never the host's.
import { readFile } from 'node:fs/promises';
import { BuildError } from '../errors.ts';
import { resolveInRoot } from './resolve.ts';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface UserInfo {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly name?: string;
}

const numericId = /^[0-9]+$/;

function parseId(text: string): number | undefined {
  if (!numericId.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n <= 0xffffffff ? n : undefined;
}

/** Lines of name:passwd:uid:gid:gecos:home:shell; malformed lines are skipped (as libc does). */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const name = f[0];
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (name === undefined || name === '' || uid === undefined || gid === undefined) continue;
    out.push({ name, uid, gid, home: f[5] !== undefined && f[5] !== '' ? f[5] : '/' });
  }
  return out;
}

/** Lines of name:passwd:gid:member,member. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const name = f[0];
    const gid = parseId(f[2] ?? '');
    if (name === undefined || name === '' || gid === undefined) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name, gid, members });
  }
  return out;
}

/** Reads a file of the root; a missing file reads as empty (many minimal images have none). */
async function readRootFile(root: string, rootPath: string): Promise<string> {
  const host = await resolveInRoot(root, rootPath);
  try {
    return await readFile(host, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return '';
    throw new BuildError('ROOTFS', `cannot read ${rootPath} of the build root: ${(err as Error).message}`, { cause: err });
  }
}

export async function readPasswd(root: string): Promise<PasswdEntry[]> {
  return parsePasswd(await readRootFile(root, '/etc/passwd'));
}

export async function readGroups(root: string): Promise<GroupEntry[]> {
  return parseGroup(await readRootFile(root, '/etc/group'));
}

function findUser(entries: readonly PasswdEntry[], user: string): UserInfo {
  const uid = parseId(user);
  if (uid !== undefined) {
    const e = entries.find((p) => p.uid === uid);
    // An unknown numeric uid is allowed (USER 1234 works without a passwd entry): primary group 0, as runc and
    // containerd give the process (moby/sys/user GetExecUser defaults).
    return e === undefined ? { uid, gid: 0, home: '/' } : { uid, gid: e.gid, home: e.home, name: e.name };
  }
  const e = entries.find((p) => p.name === user);
  if (e === undefined) {
    throw new BuildError('ROOTFS', `unable to find user ${JSON.stringify(user)} in the image's /etc/passwd`);
  }
  return { uid: e.uid, gid: e.gid, home: e.home, name: e.name };
}

function findGroupId(entries: readonly GroupEntry[], group: string): number {
  const gid = parseId(group);
  if (gid !== undefined) return gid;
  const e = entries.find((g) => g.name === group);
  if (e === undefined) {
    throw new BuildError('ROOTFS', `unable to find group ${JSON.stringify(group)} in the image's /etc/group`);
  }
  return e.gid;
}

/**
 * Looks a user up in the root's /etc/passwd by name or numeric uid. Also accepts the USER
 * instruction's "user:group" form, in which case the group (name or gid) overrides the
 * primary gid.
 */
export async function lookupUser(root: string, user: string): Promise<UserInfo> {
  if (user === '') throw new BuildError('ROOTFS', 'empty user name');
  const colon = user.indexOf(':');
  const userPart = colon === -1 ? user : user.slice(0, colon);
  const info = findUser(await readPasswd(root), userPart);
  if (colon === -1) return info;
  const groupPart = user.slice(colon + 1);
  if (groupPart === '') return info;
  const gid = findGroupId(await readGroups(root), groupPart);
  return info.name === undefined ? { uid: info.uid, gid, home: info.home } : { uid: info.uid, gid, home: info.home, name: info.name };
}

/** The gids of the groups in the root's /etc/group that list userName as a member, other than primaryGid, ascending. */
export async function supplementaryGroups(root: string, userName: string, primaryGid: number): Promise<number[]> {
  const gids = new Set<number>();
  for (const g of await readGroups(root)) {
    if (g.gid !== primaryGid && g.members.includes(userName)) gids.add(g.gid);
  }
  return [...gids].sort((a, b) => a - b);
}

/**
 * The owner BuildKit's file operations give what they create for a USER (WORKDIR's mkdir: readUser in
 * solver/llbsolver/file): a numeric uid alone is uid:uid (its passwd entry is not consulted); a name is its passwd
 * uid:gid, or 0:0 when /etc/passwd has no such user (no error); a group, by gid or by name from /etc/group (ignored
 * when not found), replaces the gid.
 */
export async function fileOpOwner(root: string, spec: string): Promise<{ uid: number; gid: number }> {
  if (spec === '') return { uid: 0, gid: 0 };
  const colon = spec.indexOf(':');
  const userPart = colon === -1 ? spec : spec.slice(0, colon);
  const groupPart = colon === -1 ? '' : spec.slice(colon + 1);
  let owner = { uid: 0, gid: 0 };
  if (userPart !== '') {
    const uid = parseId(userPart);
    if (uid !== undefined) owner = { uid, gid: uid };
    else {
      const e = (await readPasswd(root)).find((p) => p.name === userPart);
      if (e !== undefined) owner = { uid: e.uid, gid: e.gid };
    }
  }
  if (groupPart !== '') {
    const gid = parseId(groupPart) ?? (await readGroups(root)).find((g) => g.name === groupPart)?.gid ?? owner.gid;
    owner = { uid: owner.uid, gid };
  }
  return owner;
}

/**
 * COPY/ADD --chown: "user", "user:group", "uid", "uid:gid" (names looked up in the root's files).
 * Docker's documented rule: a user without a group (name or uid) uses the numeric UID as the GID.
 */
export async function resolveOwnership(root: string, chown: string): Promise<{ uid: number; gid: number }> {
  const parts = chown.split(':');
  const userPart = parts[0] ?? '';
  if (parts.length > 2 || userPart === '') {
    throw new BuildError('ROOTFS', `invalid --chown value ${JSON.stringify(chown)}: expected user, user:group, uid or uid:gid`);
  }
  const numericUid = parseId(userPart);
  const uid = numericUid ?? findUser(await readPasswd(root), userPart).uid;
  const groupPart = parts[1];
  if (groupPart === undefined || groupPart === '') return { uid, gid: uid };
  const gid = parseId(groupPart) ?? findGroupId(await readGroups(root), groupPart);
  return { uid, gid };
}
