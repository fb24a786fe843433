// The base-image cache (kaniko's --cache-dir): the warmer stores whole images there as OCI layouts keyed by
// their platform-specific manifest digest, and `executor --cache` takes base images from there before
// asking the registry. The files and their atomic updates are in cache-entries.ts.
import { mkdir, rm } from 'node:fs/promises';
import { readOciLayout, writeOciLayout } from '../archive/oci-layout.ts';
import type { Log } from '../log.ts';
import type { Image, Layer, MountableLayer } from '../oci/image.ts';
import { formatPlatform, hostPlatform } from '../oci/platform.ts';
import type { Digest, Platform } from '../oci/types.ts';
import { formatReference, parseReference, type Reference } from '../registry/reference.ts';
import { remoteImage, remoteImageWithMirrors, type MirrorOptions, type RemoteOptions } from '../registry/remote.ts';
import {
  entryPath, entryState, installEntry, readRefLink, renewEntry, temporaryPath, writeRefLink,
} from './cache-entries.ts';

/** Where images come from: registry settings (platform included) and, optionally, --registry-map/--registry-mirror. */
export interface CacheSourceOptions {
  readonly registry: RemoteOptions;
  readonly mirrors?: MirrorOptions;
}

export interface WarmOptions extends CacheSourceOptions {
  readonly cacheDir: string;
  /** Write the entry again even if it is cached and fresh (--force). */
  readonly force?: boolean;
  /** --cache-ttl in milliseconds: an older entry is expired. */
  readonly ttl: number;
  readonly log: Log;
}

export type WarmStatus = 'cached' | 'already-cached';

export interface WarmResult {
  /** The platform-specific manifest digest: the entry's name. */
  readonly digest: Digest;
  readonly status: WarmStatus;
}

export interface CachedImageOptions {
  readonly cacheDir: string;
  /** --cache-ttl in milliseconds. */
  readonly ttl: number;
  /** The platform the build wants (tag links are recorded per platform). */
  readonly platform: Platform;
  readonly log: Log;
  /**
   * Resolves a tag to the platform-specific manifest digest through the registry (kaniko asks the registry
   * first, so a moved tag is noticed). When absent or failing, the digest the warmer recorded is used.
   */
  readonly resolve?: (ref: Reference) => Promise<Digest>;
}

function toReference(ref: string | Reference): Reference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

/** arm64 images usually omit the v8 variant; one spelling keeps the warmer's and the executor's keys equal. */
function platformKey(p: Platform): string {
  return formatPlatform(p.architecture === 'arm64' && (p.variant === undefined || p.variant === '') ? { ...p, variant: 'v8' } : p);
}

function fetchImage(ref: Reference, opts: CacheSourceOptions): Promise<Image> {
  return opts.mirrors === undefined ? remoteImage(ref, opts.registry) : remoteImageWithMirrors(ref, opts.mirrors, opts.registry);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The cache key of `ref`: its manifest digest for opts.registry.platform (one manifest request, two for an index). */
export async function cacheKeyFor(ref: string | Reference, opts: CacheSourceOptions): Promise<Digest> {
  return (await fetchImage(toReference(ref), opts)).digest();
}

/**
 * Stores `ref` (manifest, config, layers) in the cache directory unless a fresh entry is there. An expired
 * entry is renewed (same digest, same bytes). Safe when several warmers run at once: each writes its own
 * temporary directory and the first rename wins.
 */
export async function warmImage(ref: string | Reference, opts: WarmOptions): Promise<WarmResult> {
  const reference = toReference(ref);
  const name = formatReference(reference);
  const image = await fetchImage(reference, opts);
  const digest = await image.digest();
  await mkdir(opts.cacheDir, { recursive: true });
  const state = await entryState(opts.cacheDir, digest, opts.ttl);
  let status: WarmStatus;
  if (state.kind === 'fresh' && opts.force !== true) {
    status = 'already-cached';
  } else if (state.kind === 'expired' && opts.force !== true && await renewEntry(opts.cacheDir, digest)) {
    opts.log.debug({ ref: name, digest }, 'Renewed an expired cache entry');
    status = 'cached';
  } else {
    status = await writeEntry(image, digest, name, state.kind !== 'missing', opts) ? 'cached' : 'already-cached';
  }
  const platform = platformKey(opts.registry.platform ?? hostPlatform());
  await writeRefLink(opts.cacheDir, { ref: name, platform, digest });
  return { digest, status };
}

async function writeEntry(image: Image, digest: Digest, name: string, replace: boolean, opts: WarmOptions): Promise<boolean> {
  const tmp = temporaryPath(opts.cacheDir, digest);
  try {
    await writeOciLayout(tmp, image, { refName: name });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const installed = await installEntry(opts.cacheDir, digest, tmp, { replace });
  if (!installed) opts.log.debug({ ref: name, digest }, 'Another warmer cached this image first');
  return installed;
}

/**
 * The cached image for `ref`, or undefined on a miss (not cached, expired, unreadable). Never throws: a
 * miss only means the caller asks the registry. Its layers are mountable from ref's repository, so a push
 * to the same registry mounts them instead of uploading.
 */
export async function cachedBaseImage(ref: string | Reference, opts: CachedImageOptions): Promise<Image | undefined> {
  const { log } = opts;
  let reference: Reference;
  try {
    reference = toReference(ref);
  } catch (err) {
    log.debug({ ref: String(ref), err: messageOf(err) }, 'Not looking in the base-image cache: invalid reference');
    return undefined;
  }
  const name = formatReference(reference);
  try {
    const digest = await findDigest(reference, name, opts);
    if (digest === undefined) {
      log.debug({ ref: name }, 'Base image not in the cache');
      return undefined;
    }
    const state = await entryState(opts.cacheDir, digest, opts.ttl);
    if (state.kind !== 'fresh') {
      log.debug({ ref: name, digest, state: state.kind }, 'Base image not usable from the cache');
      return undefined;
    }
    const image = await readOciLayout(entryPath(opts.cacheDir, digest), { digest });
    const actual = await image.digest();
    if (actual !== digest) {
      log.warn({ ref: name, digest, actual }, 'Ignoring a cache entry that holds another image');
      return undefined;
    }
    log.debug({ ref: name, digest }, 'Base image found in the cache');
    return withMountSource(image, reference);
  } catch (err) {
    log.warn({ ref: name, err: messageOf(err) }, 'Ignoring an unreadable base-image cache entry');
    return undefined;
  }
}

async function findDigest(ref: Reference, name: string, opts: CachedImageOptions): Promise<Digest | undefined> {
  const platform = platformKey(opts.platform);
  if (ref.digest !== undefined) {
    // Already a platform manifest digest, or an index digest the warmer recorded the platform entry of.
    if ((await entryState(opts.cacheDir, ref.digest, Number.POSITIVE_INFINITY)).kind !== 'missing') return ref.digest;
    return readRefLink(opts.cacheDir, name, platform);
  }
  if (opts.resolve !== undefined) {
    try {
      return await opts.resolve(ref);
    } catch (err) {
      const recorded = await readRefLink(opts.cacheDir, name, platform);
      if (recorded !== undefined) {
        opts.log.warn({ ref: name, digest: recorded, err: messageOf(err) }, 'Cannot resolve the base image in its registry; using the digest the warmer recorded');
      }
      return recorded;
    }
  }
  return readRefLink(opts.cacheDir, name, platform);
}

function mountableLayer(layer: Layer, source: MountableLayer['source']): MountableLayer {
  return {
    source,
    digest: () => layer.digest(),
    diffId: () => layer.diffId(),
    size: () => layer.size(),
    mediaType: () => layer.mediaType(),
    compressed: () => layer.compressed(),
    uncompressed: () => layer.uncompressed(),
  };
}

function withMountSource(image: Image, ref: Reference): Image {
  const source = Object.freeze({ registry: ref.registry, repository: ref.repository });
  const layers = image.layers().then((ls) => ls.map((l) => mountableLayer(l, source)));
  // Settled once so an early rejection is not reported as unhandled; callers still see it on layers().
  layers.catch(() => undefined);
  return {
    mediaType: () => image.mediaType(),
    manifest: () => image.manifest(),
    rawManifest: () => image.rawManifest(),
    digest: () => image.digest(),
    configFile: () => image.configFile(),
    rawConfigFile: () => image.rawConfigFile(),
    layers: () => layers,
    async layerByDigest(d: Digest): Promise<Layer> {
      return mountableLayer(await image.layerByDigest(d), source);
    },
  };
}
