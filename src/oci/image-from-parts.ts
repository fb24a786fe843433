// The one Image implementation behind empty/mutate/layout/tarball images: a lazily computed,
// memoised set of parts. Also the deterministic serialisers that keep manifest digests stable.
import { BuildError } from '../errors.ts';
import { sha256Of } from './digest.ts';
import type { Image, Layer } from './image.ts';
import { MediaTypes, type ConfigFile, type Descriptor, type Digest, type Manifest, type Platform } from './types.ts';

export interface ImageParts {
  readonly manifest: Manifest;
  readonly rawManifest: Uint8Array;
  readonly config: ConfigFile;
  readonly rawConfig: Uint8Array;
  /** Same order as manifest.layers. */
  readonly layers: readonly Layer[];
}

/** Memoises an async computation; a failure is not cached, so a later call may retry. */
export function memoise<T>(compute: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    if (p === undefined) {
      p = compute();
      p.catch(() => { p = undefined; });
    }
    return p;
  };
}

export function imageFromParts(compute: () => Promise<ImageParts>): Image {
  const parts = memoise(compute);
  const digest = memoise(async () => sha256Of((await parts()).rawManifest));
  return {
    // A manifest without mediaType is OCI (Docker schema2 always carries one).
    mediaType: async () => (await parts()).manifest.mediaType ?? MediaTypes.ociManifest,
    manifest: async () => (await parts()).manifest,
    rawManifest: async () => (await parts()).rawManifest,
    digest,
    configFile: async () => (await parts()).config,
    rawConfigFile: async () => (await parts()).rawConfig,
    layers: async () => (await parts()).layers,
    async layerByDigest(d: Digest): Promise<Layer> {
      const p = await parts();
      const i = p.manifest.layers.findIndex((l) => l.digest === d);
      const layer = i < 0 ? undefined : p.layers[i];
      if (layer === undefined) throw new BuildError('BUILD', `image has no layer with digest ${d}`);
      return layer;
    },
  };
}

const encoder = new TextEncoder();

/** A manifest whose config digest/size are still to be computed from the config object. */
export type ManifestDraft = Omit<Manifest, 'config'> & { readonly config: Omit<Descriptor, 'digest' | 'size'> & Partial<Descriptor> };

/** Builds the parts from a manifest and config object, serialising both deterministically. */
export function partsFromObjects(manifest: ManifestDraft, config: ConfigFile, layers: readonly Layer[]): ImageParts {
  const rawConfig = serialiseConfig(config);
  const withConfig: Manifest = {
    ...manifest,
    config: { ...manifest.config, digest: sha256Of(rawConfig), size: rawConfig.byteLength },
  };
  return { manifest: withConfig, rawManifest: serialiseManifest(withConfig), config, rawConfig, layers };
}

export function serialiseConfig(config: ConfigFile): Uint8Array {
  return encoder.encode(JSON.stringify(config));
}

// Field order follows go-containerregistry's structs so our JSON looks like everyone else's.
function orderedPlatform(p: Platform): Record<string, unknown> {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p['os.version'] !== undefined ? { 'os.version': p['os.version'] } : {}),
    ...(p['os.features'] !== undefined ? { 'os.features': p['os.features'] } : {}),
    ...(p.variant !== undefined ? { variant: p.variant } : {}),
  };
}

export function orderedDescriptor(d: Descriptor): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    size: d.size,
    digest: d.digest,
    ...(d.urls !== undefined ? { urls: d.urls } : {}),
    ...(d.annotations !== undefined ? { annotations: sortedRecord(d.annotations) } : {}),
    ...(d.platform !== undefined ? { platform: orderedPlatform(d.platform) } : {}),
  };
}

export function sortedRecord(r: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function serialiseManifest(m: Manifest): Uint8Array {
  return encoder.encode(JSON.stringify({
    schemaVersion: m.schemaVersion,
    ...(m.mediaType !== undefined ? { mediaType: m.mediaType } : {}),
    config: orderedDescriptor(m.config),
    layers: m.layers.map(orderedDescriptor),
    ...(m.annotations !== undefined ? { annotations: sortedRecord(m.annotations) } : {}),
  }));
}

/** A manifest layer descriptor for a Layer. */
export async function describeLayer(layer: Layer): Promise<Descriptor> {
  const [mediaType, size, digest] = await Promise.all([layer.mediaType(), layer.size(), layer.digest()]);
  return { mediaType, size, digest };
}

