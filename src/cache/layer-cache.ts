// The layer cache (kaniko's --cache-repo, pkg/cache/cache.go): one small image per cache key holding exactly the
// one layer a step produced. Two stores: a registry repository (`<repo>:<key>`) and, for `--cache-repo=oci:DIR`,
// OCI layouts on disk (`DIR/<key>/`). Reading is best effort: a miss, an expired entry, a broken entry or an
// unreachable registry are all "no layer" (with a warning where a human should know), never a failed build.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { readOciLayout, writeOciLayout } from '../archive/oci-layout.ts';
import { BuildError, UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { emptyImage } from '../oci/empty.ts';
import type { Image, Layer } from '../oci/image.ts';
import { appendLayers, formatGoTime, withCreatedAt, withManifestMediaType } from '../oci/mutate.ts';
import { hostPlatform } from '../oci/platform.ts';
import type { History, Platform } from '../oci/types.ts';
import { parseReference, repositoryName, type Reference } from '../registry/reference.ts';
import { RegistryError } from '../registry/registry-error.ts';
import { remoteImage, writeImage, type RemoteOptions } from '../registry/remote.ts';

export interface CachedLayer {
  /** For the registry store a lazy MountableLayer: its blob is fetched only when applied, and mounted on push. */
  readonly layer: Layer;
  /** The history entry stored with it (created_by of the step that made it). */
  readonly history?: History;
}

export interface LayerCache {
  /** The layer stored under `key`, or undefined (missing, expired, unreadable, registry unreachable). Never throws for those. */
  get(key: string): Promise<CachedLayer | undefined>;
  /** Stores `layer` under `key`; a failure is logged as a warning, never thrown (call it without awaiting, await at the end). */
  put(key: string, layer: Layer, history: History): Promise<void>;
}

interface CommonOptions {
  /** --cache-ttl in milliseconds: an entry whose config.created + ttl is before now is expired. */
  readonly ttlMs: number;
  readonly log: Log;
  /** The clock (tests inject one). */
  readonly now?: () => Date;
  /** Platform written into the cache image's config; default the registry options' platform, then this host's. */
  readonly platform?: Platform;
  /** false for --no-push-cache: get() still reads, put() does nothing. Default true. */
  readonly push?: boolean;
}

export interface RegistryLayerCacheOptions extends CommonOptions {
  /** `registry/repository` without tag, e.g. 127.0.0.1:5000/app/cache (see parseCacheRepo/defaultCacheRepo). */
  readonly repo: string;
  readonly registry: RemoteOptions;
}

export interface OciLayerCacheOptions extends CommonOptions {
  /** The directory named by --cache-repo=oci:DIR; each key is the OCI layout DIR/<key>/. */
  readonly dir: string;
}

/** What --cache-repo names. */
export type CacheRepo = { readonly kind: 'registry'; readonly repo: string } | { readonly kind: 'oci'; readonly dir: string };

/** kaniko's default cache repository: the first destination's repository + '/cache' (tag and digest dropped). */
export function defaultCacheRepo(firstDestination: string): string {
  return `${repositoryName(parseReference(firstDestination))}/cache`;
}

/** --cache-repo: `oci:DIR` (a local directory of OCI layouts) or a repository without tag or digest. */
export function parseCacheRepo(flag: string): CacheRepo {
  if (flag.startsWith('oci:')) {
    const dir = flag.slice('oci:'.length);
    if (dir === '') throw new UsageError('--cache-repo=oci: needs a directory, e.g. oci:/cache/layers');
    return { kind: 'oci', dir: path.resolve(dir) };
  }
  if (flag === '') throw new UsageError('--cache-repo is empty');
  const lastPart = flag.slice(flag.lastIndexOf('/') + 1);
  if (flag.includes('@') || lastPart.includes(':')) {
    throw new UsageError(`--cache-repo=${flag}: give a repository without tag or digest (each cache key becomes a tag)`);
  }
  return { kind: 'registry', repo: repositoryName(parseReference(flag)) };
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function checkKey(key: string): void {
  // Keys come from cacheKey() (hex); anything else is a caller's bug, and must never reach a path or a URL.
  if (!TAG.test(key)) throw new BuildError('BUILD', `invalid layer cache key ${JSON.stringify(key)}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The image stored per key: an empty base plus the one layer, created now (kaniko's pushLayerToCache). */
async function cacheImage(layer: Layer, history: History, created: Date, platform: Platform): Promise<Image> {
  const img = withCreatedAt(appendLayers(emptyImage(platform), { layer, history: { ...history, created: formatGoTime(created) } }), created);
  // An OCI-typed layer (zstd, or --compression output) gets an OCI manifest: a mixed manifest may be refused.
  return (await layer.mediaType()).startsWith('application/vnd.oci.') ? withManifestMediaType(img, 'oci') : img;
}

/** The one layer of a cache image, or why the entry cannot be used. */
async function entryLayer(img: Image, ttlMs: number, now: Date): Promise<CachedLayer | string> {
  const config = await img.configFile();
  const layers = await img.layers();
  const layer = layers[0];
  if (layer === undefined || layers.length !== 1) return `holds ${layers.length} layers, not 1`;
  const created = config.created === undefined ? Number.NaN : Date.parse(config.created);
  if (Number.isNaN(created)) return 'has no creation time';
  if (created + ttlMs < now.getTime()) return `expired (created ${config.created ?? ''})`;
  const history = (config.history ?? []).find((h) => h.empty_layer !== true);
  return history === undefined ? { layer } : { layer, history };
}

function isMissing(err: unknown): boolean {
  if (!(err instanceof RegistryError)) return false;
  return err.status === 404 || err.diagnostics.some((d) => d.code === 'MANIFEST_UNKNOWN' || d.code === 'NAME_UNKNOWN');
}

/** Cache entries as tags `<repo>:<key>` in a registry (kaniko's RegistryCache). */
export function registryLayerCache(opts: RegistryLayerCacheOptions): LayerCache {
  const now = opts.now ?? (() => new Date());
  const platform = opts.platform ?? opts.registry.platform ?? hostPlatform();
  const refOf = (key: string): Reference => parseReference(`${opts.repo}:${key}`);
  // Per cache instance, not per module: one warning for a broken cache repo, not one per step.
  let warned = false;
  let unreachable = false;
  return {
    async get(key) {
      checkKey(key);
      if (unreachable) return undefined;
      const ref = refOf(key);
      try {
        const found = await entryLayer(await remoteImage(ref, opts.registry), opts.ttlMs, now());
        if (typeof found === 'string') {
          opts.log.debug({ key }, `Layer cache entry ${found}: not used`);
          return undefined;
        }
        opts.log.debug({ key, repo: opts.repo }, 'Layer cache hit');
        return found;
      } catch (err) {
        if (isMissing(err)) {
          opts.log.debug({ key }, 'Layer cache miss');
          return undefined;
        }
        // A cache that cannot be reached must not slow every later step down with its own timeouts and retries.
        if (err instanceof BuildError && err.code === 'NETWORK') unreachable = true;
        if (!warned) opts.log.warn({ repo: opts.repo }, `Layer cache ${opts.repo} cannot be read, building without it: ${messageOf(err)}`);
        else opts.log.debug({ key }, `Layer cache read failed: ${messageOf(err)}`);
        warned = true;
        return undefined;
      }
    },
    async put(key, layer, history) {
      checkKey(key);
      if (opts.push === false) return;
      const ref = refOf(key);
      try {
        const started = Date.now();
        await writeImage(ref, await cacheImage(layer, history, now(), platform), opts.registry);
        opts.log.debug({ key, repo: opts.repo, durationMs: Date.now() - started }, 'Pushed layer to the cache');
      } catch (err) {
        opts.log.warn({ key, repo: opts.repo }, `Could not push a layer to the cache ${opts.repo}: ${messageOf(err)}`);
      }
    },
  };
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Cache entries as OCI layouts `DIR/<key>/` (kaniko writes sibling layouts `DIR:<key>`; one directory keeps the
 * cache in the place the user named and avoids ':' in paths, which skopeo's oci: transport cannot take). One
 * layout per key, not one shared index.json: background puts then never race on a shared file.
 */
export function ociLayerCache(opts: OciLayerCacheOptions): LayerCache {
  const now = opts.now ?? (() => new Date());
  const platform = opts.platform ?? hostPlatform();
  const dir = path.resolve(opts.dir);
  return {
    async get(key) {
      checkKey(key);
      const entry = path.join(dir, key);
      try {
        if (!(await pathExists(path.join(entry, 'index.json')))) {
          opts.log.debug({ key }, 'Layer cache miss');
          return undefined;
        }
        const found = await entryLayer(await readOciLayout(entry), opts.ttlMs, now());
        if (typeof found === 'string') {
          opts.log.debug({ key }, `Layer cache entry ${found}: not used`);
          return undefined;
        }
        opts.log.debug({ key, dir }, 'Layer cache hit');
        return found;
      } catch (err) {
        opts.log.warn({ key, dir }, `Layer cache entry ${entry} cannot be read, building without it: ${messageOf(err)}`);
        return undefined;
      }
    },
    async put(key, layer, history) {
      checkKey(key);
      if (opts.push === false) return;
      const entry = path.join(dir, key);
      const tmp = path.join(dir, `.tmp-${key}-${randomBytes(6).toString('hex')}`);
      try {
        await mkdir(dir, { recursive: true });
        await writeOciLayout(tmp, await cacheImage(layer, history, now(), platform));
        await install(tmp, entry);
        opts.log.debug({ key, dir }, 'Stored layer in the cache');
      } catch (err) {
        opts.log.warn({ key, dir }, `Could not store a layer in the cache ${dir}: ${messageOf(err)}`);
      } finally {
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
}

/** rename(2) into place; an existing (expired or concurrently written) entry is moved aside and removed. */
async function install(tmp: string, entry: string): Promise<void> {
  try {
    await rename(tmp, entry);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
  }
  const old = `${tmp}.old`;
  await rename(entry, old);
  try {
    await rename(tmp, entry);
  } finally {
    await rm(old, { recursive: true, force: true });
  }
}
