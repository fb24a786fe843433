// The on-disk shape of the base-image cache directory, and the only code that changes it:
//   <cacheDir>/sha256:<hex>/     one OCI layout per image, keyed by its platform-specific manifest digest
//   <cacheDir>/refs/<name>.json  {ref, platform, digest}: what a tag resolved to when it was warmed, so a build
//                                can find the entry without asking the registry
//   <cacheDir>/.tmp-*            work in progress of a warmer (never read)
// Every change is a rename of something fully written, so readers and concurrent warmers only ever see
// complete entries: no locks.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.ts';
import { isDigest, parseDigest } from '../oci/digest.ts';
import type { Digest } from '../oci/types.ts';

export type EntryState =
  | { readonly kind: 'missing' }
  | { readonly kind: 'fresh'; readonly mtimeMs: number }
  | { readonly kind: 'expired'; readonly mtimeMs: number }
  /** Something that is not our directory: kaniko's older docker-tarball file entries. */
  | { readonly kind: 'foreign' };

export function entryPath(cacheDir: string, digest: Digest): string {
  // parseDigest validates it (sha256:<64 hex>), so a crafted value cannot point outside the cache directory.
  return path.join(cacheDir, parseDigest(digest));
}

export function temporaryPath(cacheDir: string, label: string): string {
  return path.join(cacheDir, `.tmp-${label}-${randomBytes(6).toString('hex')}`);
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** kaniko's rule: an entry older than ttl by its modification time is expired. */
export async function entryState(cacheDir: string, digest: Digest, ttlMs: number, now: number = Date.now()): Promise<EntryState> {
  let info;
  try {
    info = await stat(entryPath(cacheDir, digest));
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return { kind: 'missing' };
    throw err;
  }
  if (!info.isDirectory()) return { kind: 'foreign' };
  return info.mtimeMs + ttlMs < now ? { kind: 'expired', mtimeMs: info.mtimeMs } : { kind: 'fresh', mtimeMs: info.mtimeMs };
}

/** Restarts an entry's TTL. Its content is addressed by digest, so it cannot be stale. False if it vanished. */
export async function renewEntry(cacheDir: string, digest: Digest, now: Date = new Date()): Promise<boolean> {
  try {
    await utimes(entryPath(cacheDir, digest), now, now);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Moves the fully written directory `tmpDir` to the entry for `digest`. With `replace`, whatever is there is
 * first moved aside (then deleted). Returns false when another warmer's entry got there first; `tmpDir` is
 * removed in that case, because rename(2) refuses to replace a non-empty directory (EEXIST/ENOTEMPTY).
 */
export async function installEntry(cacheDir: string, digest: Digest, tmpDir: string, opts: { replace: boolean }): Promise<boolean> {
  const dest = entryPath(cacheDir, digest);
  const trash = opts.replace ? temporaryPath(cacheDir, 'old') : undefined;
  try {
    if (trash !== undefined) {
      await rename(dest, trash).catch((err: unknown) => {
        if (errnoOf(err) !== 'ENOENT') throw err;
      });
    }
    await rename(tmpDir, dest);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EEXIST' || code === 'ENOTEMPTY') {
      await rm(tmpDir, { recursive: true, force: true });
      return false;
    }
    throw new BuildError('ARCHIVE', `cannot move the new cache entry into ${dest}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (trash !== undefined) await rm(trash, { recursive: true, force: true });
  }
}

export interface RefLink {
  /** The fully qualified reference as warmed (formatReference). */
  readonly ref: string;
  /** os/arch[/variant] the reference was resolved for. */
  readonly platform: string;
  readonly digest: Digest;
}

/** A readable name that cannot escape refs/, plus a hash so that two references never share a file. */
function linkPath(cacheDir: string, ref: string, platform: string): string {
  const key = `${ref} ${platform}`;
  const readable = key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 150);
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return path.join(cacheDir, 'refs', `${readable}.${hash}.json`);
}

export async function writeRefLink(cacheDir: string, link: RefLink): Promise<void> {
  const file = linkPath(cacheDir, link.ref, link.platform);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, JSON.stringify({ ref: link.ref, platform: link.platform, digest: link.digest }) + '\n');
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new BuildError('ARCHIVE', `cannot record ${link.ref} in the cache directory ${cacheDir}: ${(err as Error).message}`, { cause: err });
  }
}

/** The digest recorded for ref+platform, or undefined (missing, unreadable or not ours: all mean "not known"). */
export async function readRefLink(cacheDir: string, ref: string, platform: string): Promise<Digest | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(linkPath(cacheDir, ref, platform), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const rec = parsed as Record<string, unknown>;
  if (rec['ref'] !== ref || rec['platform'] !== platform || !isDigest(rec['digest'])) return undefined;
  return rec['digest'];
}
