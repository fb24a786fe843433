// The image model's interfaces (go-containerregistry's v1.Image / v1.Layer, in TypeScript).
// Every accessor may do I/O, so all return Promises. Mutations return new values (see mutate.ts).
import type { Readable } from 'node:stream';
import type { ConfigFile, Descriptor, Digest, IndexManifest, Manifest, MediaType } from './types.ts';

export interface Layer {
  /** Digest of the compressed bytes (what the registry stores). */
  digest(): Promise<Digest>;
  /** Digest of the uncompressed tar (what the config's rootfs.diff_ids lists). */
  diffId(): Promise<Digest>;
  /** Size of the compressed bytes. */
  size(): Promise<number>;
  mediaType(): Promise<MediaType>;
  /** A FRESH stream of the compressed bytes on every call. */
  compressed(): Promise<Readable>;
  /** A FRESH stream of the uncompressed tar on every call. */
  uncompressed(): Promise<Readable>;
}

export interface Image {
  mediaType(): Promise<MediaType>;
  manifest(): Promise<Manifest>;
  rawManifest(): Promise<Uint8Array>;
  digest(): Promise<Digest>;
  configFile(): Promise<ConfigFile>;
  rawConfigFile(): Promise<Uint8Array>;
  /** Base layer first. */
  layers(): Promise<readonly Layer[]>;
  layerByDigest(d: Digest): Promise<Layer>;
}

export interface ImageIndex {
  mediaType(): Promise<MediaType>;
  digest(): Promise<Digest>;
  indexManifest(): Promise<IndexManifest>;
  rawManifest(): Promise<Uint8Array>;
  image(d: Digest): Promise<Image>;
}

/** Optional capability: a layer that knows where it already lives (for cross-repo mounts). */
export interface MountableLayer extends Layer {
  /** `registry/repository` the blob can be mounted from. */
  readonly source: { readonly registry: string; readonly repository: string };
}

export function isMountable(layer: Layer): layer is MountableLayer {
  return 'source' in layer && typeof (layer as { source?: unknown }).source === 'object';
}

export type { Descriptor };
