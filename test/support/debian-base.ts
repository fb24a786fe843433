// A Debian bookworm base image for the conformance suite: `debootstrap --variant=minbase` from Debian's mirror,
// once, cached as a tarball under /var/cache/kaniko-ts (KANIKO_TS_CACHE) so later runs (and CI re-runs with the cache) skip the minutes
// of downloading; then pushed as a one-layer image with our own image model (our COPY skips device nodes and ADD
// may not exist yet, and the test should not depend on the feature it is testing).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { anonymousKeychain } from '../../src/auth/keychain.ts';
import { emptyImage } from '../../src/oci/empty.ts';
import { layerFromTarFile } from '../../src/oci/layer.ts';
import { appendLayers, withConfigFile } from '../../src/oci/mutate.ts';
import { hostPlatform } from '../../src/oci/platform.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { writeImage } from '../../src/registry/remote.ts';

const exec = promisify(execFile);

// The cache lives outside the checkout so a fresh clone on the same machine (CI runs in one) reuses it;
// KANIKO_TS_CACHE overrides the place.
const cacheDir = process.env['KANIKO_TS_CACHE'] ?? '/var/cache/kaniko-ts';
export const debianCacheFile = join(cacheDir, 'debian-bookworm-minbase.tar');
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

/** Thrown when the base cannot be made (no mirror, no debootstrap): the Debian cases skip, loudly. */
export class DebianUnavailable extends Error {
  override readonly name = 'DebianUnavailable';
}

/**
 * The machine's own Debian mirror (the main archive, not -security) from /etc/apt/sources.list(.d), so a machine
 * behind a local mirror or snapshot uses it; Debian's CDN otherwise.
 */
export async function debianMirror(): Promise<string> {
  const files: string[] = [];
  try {
    files.push(await readFile('/etc/apt/sources.list', 'utf8'));
  } catch {
    // deb822-only systems have no sources.list
  }
  try {
    for (const name of (await readdir('/etc/apt/sources.list.d')).sort()) {
      // Only active files: apt ignores other suffixes (e.g. ".disabled-by-farm").
      if (name.endsWith('.list') || name.endsWith('.sources')) files.push(await readFile(join('/etc/apt/sources.list.d', name), 'utf8'));
    }
  } catch {
    // no directory
  }
  for (const text of files) {
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line);
      if (m?.[1] !== undefined && isMainArchive(m[1])) return m[1];
    }
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.*)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uris !== undefined && suites.includes('bookworm') && isMainArchive(uris)) return uris;
    }
  }
  return DEFAULT_MIRROR;
}

function isMainArchive(uri: string): boolean {
  return /^https?:\/\//.test(uri) && !/security/.test(uri);
}

/** Whether the mirror answers for bookworm's Release file within a few seconds. */
export async function mirrorReachable(mirror: string, timeoutMs = 8000): Promise<boolean> {
  const url = `${mirror.replace(/\/+$/, '')}/dists/bookworm/Release`;
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The cached minbase tarball, made on first use. Throws DebianUnavailable when debootstrap cannot run. */
export async function debianTarball(log: (msg: string) => void = (m) => console.error(m)): Promise<string> {
  if (await exists(debianCacheFile)) return debianCacheFile;
  const mirror = await debianMirror();
  if (!await mirrorReachable(mirror)) throw new DebianUnavailable(`Debian mirror ${mirror} is unreachable and ${debianCacheFile} is not cached`);
  const work = await mkdtemp(join(tmpdir(), 'debootstrap-'));
  try {
    const rootfs = join(work, 'rootfs');
    log(`debian-base: debootstrap --variant=minbase bookworm from ${mirror} (once; cached in ${debianCacheFile})`);
    try {
      await exec('debootstrap', ['--variant=minbase', 'bookworm', rootfs, mirror], { timeout: 20 * 60_000, maxBuffer: 64 << 20 });
    } catch (err) {
      throw new DebianUnavailable(`debootstrap failed: ${(err as Error).message.split('\n').slice(0, 5).join(' ')}`);
    }
    // What Docker's debian images leave out: the package cache and lists (apt-get update refills them), and files
    // that belong to the machine rather than the image (the runtime provides /etc/resolv.conf and /etc/hostname).
    for (const p of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      await exec('find', [join(rootfs, p), '-mindepth', '1', '-maxdepth', '1', '!', '-name', 'lock', '!', '-name', 'partial', '-exec', 'rm', '-rf', '{}', '+']);
    }
    await rm(join(rootfs, 'etc', 'resolv.conf'), { force: true });
    await rm(join(rootfs, 'etc', 'hostname'), { force: true });
    await rm(join(rootfs, 'debootstrap'), { recursive: true, force: true });
    await mkdir(cacheDir, { recursive: true });
    const partial = `${debianCacheFile}.${process.pid}.partial`;
    // /dev, /proc and /sys stay as empty directories: device nodes come from the runtime, as in Docker's images.
    await exec('tar', ['--numeric-owner', '--sort=name', '--xattrs', '--xattrs-include=security.capability',
      '--exclude=./dev/*', '--exclude=./proc/*', '--exclude=./sys/*', '-C', rootfs, '-cf', partial, '.'],
    { timeout: 10 * 60_000, maxBuffer: 16 << 20 });
    // rename: a crashed run never leaves a half-written cache behind.
    await rename(partial, debianCacheFile);
    return debianCacheFile;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Pushes the cached Debian bookworm minbase as `<registryHost>/debian:bookworm` (plain HTTP, loopback) and returns
 * that reference. Throws DebianUnavailable when the base cannot be made.
 */
export async function debianBase(registryHost: string, opts: { repository?: string } = {}): Promise<string> {
  const tarball = await debianTarball();
  const work = await mkdtemp(join(tmpdir(), 'debian-base-'));
  try {
    const platform = hostPlatform();
    const layer = await layerFromTarFile(tarball, { workDir: work });
    const withLayer = appendLayers(emptyImage(platform), {
      layer, history: { created_by: `debootstrap --variant=minbase bookworm (${debianCacheFile})` },
    });
    const config = await withLayer.configFile();
    // Docker's debian:bookworm config: PATH and an interactive shell.
    const img = withConfigFile(withLayer, {
      ...config,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['bash'] },
    });
    const ref = `${registryHost}/${opts.repository ?? 'debian'}:bookworm`;
    await writeImage(parseReference(ref), img, {
      keychain: anonymousKeychain, insecureRegistries: new Set([registryHost]), skipTlsVerifyRegistries: new Set(),
      certificates: new Map(), clientCerts: new Map(), retries: 1, userAgent: 'kaniko-ts-test',
      log: pino({ level: 'silent' }),
    });
    return ref;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
