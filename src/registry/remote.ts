// Images in a registry (go-containerregistry remote.Image / remote.Write): lazy layers that
// stream (verified) only when read, and a push that never re-uploads what the registry has.
import { Readable } from 'node:stream';
import { BuildError } from '../errors.ts';
import type { Image, Layer, MountableLayer } from '../oci/image.ts';
import { isMountable } from '../oci/image.ts';
import { memoise } from '../oci/image-from-parts.ts';
import { decompressStream } from '../oci/layer.ts';
import { manifestKind, parseConfigFile, parseIndexManifest, parseJson, parseManifest } from '../oci/parse.ts';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.ts';
import { MediaTypes, type Descriptor, type Digest, type Manifest } from '../oci/types.ts';
import { RegistryClient, type BlobSource, type FetchedManifest, type RepositoryRef } from './client.ts';
import type { RegistryOptions } from './options.ts';
import { canonicalRegistry, DOCKER_HUB, formatReference, type Reference } from './reference.ts';
import { withRetries, type RetryOptions } from './retry.ts';
import { runLimited } from '../run-limited.ts';

export interface RemoteOptions extends RegistryOptions {
  /** Share one client (its connections, tokens and upload bookkeeping) between calls. */
  readonly client?: RegistryClient;
}

const MAX_CONFIG_BYTES = 32 * 1024 * 1024;
const FOREIGN_LAYER_TYPES: ReadonlySet<string> = new Set([
  MediaTypes.dockerForeignLayerGzip, MediaTypes.ociLayerNondistributableGzip,
  'application/vnd.oci.image.layer.nondistributable.v1.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

/** The image `ref` names; an index is resolved to the entry for opts.platform (default: this host's). */
export async function remoteImage(ref: Reference, opts: RemoteOptions): Promise<Image> {
  const client = opts.client ?? new RegistryClient(opts);
  const retry = { retries: opts.retries, log: opts.log, what: `pull of ${formatReference(ref)}`,
    ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }) };
  const what = `manifest of ${formatReference(ref)}`;
  let fetched = await withRetries(() => client.getManifest(ref), retry);
  let parsed = parseJson(fetched.bytes, what);
  if (manifestKind(parsed, fetched.mediaType) === 'index') {
    const index = parseIndexManifest(parsed, what);
    const want = opts.platform ?? hostPlatform();
    const entry = index.manifests.find((d) => platformMatches(d.platform, want));
    if (entry === undefined) {
      const available = index.manifests.flatMap((d) => (d.platform === undefined ? [] : [formatPlatform(d.platform)]));
      throw new BuildError('REGISTRY', `image ${formatReference(ref)} has no manifest for platform ${formatPlatform(want)}` +
        ` (available: ${available.length > 0 ? available.join(', ') : 'none'})`);
    }
    const child: Reference = { registry: ref.registry, repository: ref.repository, digest: entry.digest };
    fetched = await withRetries(() => client.getManifest(child), retry);
    parsed = parseJson(fetched.bytes, `manifest of ${formatReference(child)}`);
    if (manifestKind(parsed, fetched.mediaType) === 'index') {
      throw new BuildError('REGISTRY', `image ${formatReference(ref)}: the index entry for ${formatPlatform(want)} is itself an index`);
    }
  }
  return imageFromManifest(client, ref, fetched, parseManifest(parsed, what), retry);
}

function imageFromManifest(client: RegistryClient, repo: RepositoryRef, fetched: FetchedManifest, manifest: Manifest, retry: RetryOptions): Image {
  const source = Object.freeze({ registry: repo.registry, repository: repo.repository });
  // Opening a blob is retried on a temporary failure (a 5xx, a reset before the body); a stream that breaks later
  // fails its reader, who may start again (extraction retries with --image-fs-extract-retry).
  const getBlob = (digest: Digest, size: number): Promise<Readable> =>
    withRetries(() => client.getBlob(source, digest, size), { ...retry, what: `download of ${digest} from ${repositoryLabel(repo)}` });
  const rawConfig = memoise(async () => {
    const stream = await getBlob(manifest.config.digest, manifest.config.size);
    return readAll(stream, MAX_CONFIG_BYTES, `config ${manifest.config.digest}`);
  });
  const config = memoise(async () => parseConfigFile(parseJson(await rawConfig(), `config of ${repositoryLabel(repo)}`),
    `config of ${repositoryLabel(repo)}`));
  const layers = manifest.layers.map((desc, i) => remoteLayer(source, desc, getBlob, async () => {
    const diffId = (await config()).rootfs.diff_ids[i];
    if (diffId === undefined) {
      throw new BuildError('REGISTRY', `config of ${repositoryLabel(repo)} lists fewer diff_ids than the manifest has layers`);
    }
    return diffId;
  }));
  return {
    mediaType: async () => fetched.mediaType,
    manifest: async () => manifest,
    rawManifest: async () => fetched.bytes,
    digest: async () => fetched.digest,
    configFile: config,
    rawConfigFile: rawConfig,
    layers: async () => layers,
    async layerByDigest(d: Digest): Promise<Layer> {
      const i = manifest.layers.findIndex((l) => l.digest === d);
      const layer = layers[i];
      if (layer === undefined) throw new BuildError('REGISTRY', `image ${repositoryLabel(repo)} has no layer ${d}`);
      return layer;
    },
  };
}

function remoteLayer(source: RepositoryRef, desc: Descriptor, getBlob: (digest: Digest, size: number) => Promise<Readable>, diffId: () => Promise<Digest>): MountableLayer {
  const compressed = (): Promise<Readable> => getBlob(desc.digest, desc.size);
  return {
    source,
    digest: async () => desc.digest,
    diffId,
    size: async () => desc.size,
    mediaType: async () => desc.mediaType,
    compressed,
    async uncompressed(): Promise<Readable> {
      const raw = await compressed();
      const out = decompressStream(desc.mediaType);
      raw.on('error', (err) => out.destroy(err));
      return raw.pipe(out);
    },
  };
}

/**
 * Pushes `img` to `ref` (by tag, or by digest when ref has no tag): config and layers first
 * (HEAD, then mount or upload, a few at a time), the manifest last. The whole write is retried.
 */
export async function writeImage(ref: Reference, img: Image, opts: RemoteOptions): Promise<Digest> {
  const client = opts.client ?? new RegistryClient(opts);
  const target: RepositoryRef = { registry: ref.registry, repository: ref.repository };
  return withRetries(async () => {
    const manifest = await img.manifest();
    const rawConfig = await img.rawConfigFile();
    const configBlob: BlobSource = {
      digest: async () => manifest.config.digest,
      size: async () => rawConfig.byteLength,
      compressed: async () => Readable.from([Buffer.from(rawConfig)]),
    };
    const layers = (await img.layers()).filter((_, i) => !FOREIGN_LAYER_TYPES.has(manifest.layers[i]?.mediaType ?? ''));
    const uploads: (() => Promise<unknown>)[] = [
      () => client.uploadBlob(target, configBlob),
      ...layers.map((layer) => () => {
        const mountFrom = isMountable(layer) && canonicalRegistry(layer.source.registry) === target.registry ? layer.source : undefined;
        return client.uploadBlob(target, layer, mountFrom === undefined ? {} : { mountFrom });
      }),
    ];
    await runLimited(uploads, opts.uploadConcurrency ?? 3);
    const raw = await img.rawManifest();
    const mediaType = (await img.mediaType()) || manifest.mediaType || MediaTypes.ociManifest;
    const digest = await client.putManifest(ref, raw, mediaType);
    opts.log.debug({ ref: formatReference(ref), digest }, 'Pushed image');
    return digest;
  }, { retries: opts.retries, log: opts.log, what: `push of ${formatReference(ref)}`,
    ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }) });
}

export interface MirrorOptions {
  /** registry -> mirror locations `host[/prefix]`, tried in order. */
  readonly map: ReadonlyMap<string, readonly string[]>;
  /** Do not fall back to the original registry when every mirror failed. */
  readonly skipDefaultFallback: boolean;
}

/** Tries each mapped location of ref's registry, then (unless told not to) the registry itself. */
export async function remoteImageWithMirrors(ref: Reference, mirrors: MirrorOptions, opts: RemoteOptions): Promise<Image> {
  const locations = mirrorLocations(ref.registry, mirrors.map);
  const failures: string[] = [];
  for (const location of locations) {
    const slash = location.indexOf('/');
    const host = slash < 0 ? location : location.slice(0, slash);
    const prefix = slash < 0 ? '' : location.slice(slash + 1).replace(/\/+$/, '');
    const mirrored: Reference = { ...ref, registry: canonicalRegistry(host), repository: prefix ? `${prefix}/${ref.repository}` : ref.repository };
    try {
      return await remoteImage(mirrored, opts);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      opts.log.warn({ ref: formatReference(ref), mirror: location, err: message }, 'Mirror failed; trying the next location');
      failures.push(message);
    }
  }
  if (!mirrors.skipDefaultFallback || locations.length === 0) return remoteImage(ref, opts);
  throw new BuildError('REGISTRY', `image ${formatReference(ref)} was not found in any mirror and the fallback to ` +
    `${ref.registry} is disabled: ${failures.join('; ')}`);
}

function mirrorLocations(registry: string, map: ReadonlyMap<string, readonly string[]>): readonly string[] {
  const direct = map.get(registry);
  if (direct !== undefined) return direct;
  if (registry !== DOCKER_HUB) return [];
  return map.get('docker.io') ?? map.get('registry-1.docker.io') ?? [];
}

function repositoryLabel(repo: RepositoryRef): string {
  return `${repo.registry}/${repo.repository}`;
}


async function readAll(stream: Readable, limit: number, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      throw new BuildError('REGISTRY', `${what}: larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
