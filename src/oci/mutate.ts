// Pure image mutations (go-containerregistry's mutate): each returns a new lazily computed Image;
// the base is never changed and its layers are reused as they are (never recompressed).
import { describeLayer, imageFromParts, partsFromObjects } from './image-from-parts.ts';
import { isMountable, type Image, type Layer, type MountableLayer } from './image.ts';
import { MediaTypes, type ConfigFile, type History, type MediaType } from './types.ts';

export interface Addendum {
  readonly layer: Layer;
  readonly history?: History;
}

export function appendLayers(base: Image, ...adds: readonly Addendum[]): Image {
  return imageFromParts(async () => {
    const [manifest, config, layers] = await Promise.all([base.manifest(), base.configFile(), base.layers()]);
    const descriptors = await Promise.all(adds.map((a) => describeLayer(a.layer)));
    const diffIds = await Promise.all(adds.map((a) => a.layer.diffId()));
    const newConfig: ConfigFile = {
      ...config,
      rootfs: { ...config.rootfs, diff_ids: [...config.rootfs.diff_ids, ...diffIds] },
      history: [...(config.history ?? []), ...adds.map((a) => a.history ?? {})],
    };
    return partsFromObjects(
      { ...manifest, layers: [...manifest.layers, ...descriptors] },
      newConfig,
      [...layers, ...adds.map((a) => a.layer)],
    );
  });
}

/** Replaces the config; the caller keeps rootfs.diff_ids consistent with the layers. */
export function withConfigFile(img: Image, cfg: ConfigFile): Image {
  return imageFromParts(async () => {
    const [manifest, layers] = await Promise.all([img.manifest(), img.layers()]);
    return partsFromObjects(manifest, cfg, layers);
  });
}

/**
 * Records steps that made no layer (ENV, CMD, ...) in the history. One mutation for many steps: a chain of
 * one lazy image per step would nest as deep as the Dockerfile is long.
 */
export function withHistory(img: Image, ...entries: readonly History[]): Image {
  return mapConfig(img, (config) => ({
    ...config,
    history: [...(config.history ?? []), ...entries.map((h) => ({ ...h, empty_layer: h.empty_layer ?? true }))],
  }));
}

/** Sets config.created (Go RFC 3339 form, as docker and kaniko write it). */
export function withCreatedAt(img: Image, date: Date): Image {
  return mapConfig(img, (config) => ({ ...config, created: formatGoTime(date) }));
}

export function formatGoTime(date: Date): string {
  // toISOString always has milliseconds; Go's RFC3339Nano drops trailing zeros.
  return date.toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac === '' ? 'Z' : `.${frac}Z`));
}

function mapConfig(img: Image, f: (c: ConfigFile) => ConfigFile): Image {
  return imageFromParts(async () => {
    const [manifest, config, layers] = await Promise.all([img.manifest(), img.configFile(), img.layers()]);
    return partsFromObjects(manifest, f(config), layers);
  });
}

const TO_OCI: Readonly<Record<string, MediaType>> = {
  [MediaTypes.dockerManifest]: MediaTypes.ociManifest,
  [MediaTypes.dockerConfig]: MediaTypes.ociConfig,
  [MediaTypes.dockerLayerGzip]: MediaTypes.ociLayerGzip,
  [MediaTypes.dockerLayerZstd]: MediaTypes.ociLayerZstd,
  [MediaTypes.dockerForeignLayerGzip]: MediaTypes.ociLayerNondistributableGzip,
};
const TO_DOCKER: Readonly<Record<string, MediaType>> = Object.fromEntries(Object.entries(TO_OCI).map(([d, o]) => [o, d]));

/** The media type's counterpart in the other family; unchanged when it has none (e.g. plain tar). */
export function convertMediaType(mt: MediaType, to: 'oci' | 'docker'): MediaType {
  return (to === 'oci' ? TO_OCI : TO_DOCKER)[mt] ?? mt;
}

/** Converts manifest, config and layer media types between the Docker and OCI families. */
export function withManifestMediaType(img: Image, to: 'oci' | 'docker'): Image {
  return imageFromParts(async () => {
    const [manifest, config, layers] = await Promise.all([img.manifest(), img.configFile(), img.layers()]);
    const conv = (mt: MediaType): MediaType => convertMediaType(mt, to);
    return partsFromObjects(
      {
        ...manifest,
        mediaType: to === 'oci' ? MediaTypes.ociManifest : MediaTypes.dockerManifest,
        config: { ...manifest.config, mediaType: conv(manifest.config.mediaType) },
        layers: manifest.layers.map((d) => ({ ...d, mediaType: conv(d.mediaType) })),
      },
      config,
      layers.map((l, i) => withLayerMediaType(l, conv(manifest.layers[i]?.mediaType ?? ''))),
    );
  });
}

/** The same bytes under another media type; keeps the mount source of a MountableLayer. */
export function withLayerMediaType(layer: Layer, mediaType: MediaType): Layer {
  const wrapped: Layer = {
    digest: () => layer.digest(),
    diffId: () => layer.diffId(),
    size: () => layer.size(),
    mediaType: async () => mediaType,
    compressed: () => layer.compressed(),
    uncompressed: () => layer.uncompressed(),
  };
  if (isMountable(layer)) {
    const mountable: MountableLayer = { ...wrapped, source: layer.source };
    return mountable;
  }
  return wrapped;
}

/** Adds annotations to the image manifest (later keys win over the image's own); no annotations: the same image. */
export function withManifestAnnotations(img: Image, annotations: Readonly<Record<string, string>>): Image {
  if (Object.keys(annotations).length === 0) return img;
  return imageFromParts(async () => {
    const [manifest, config, layers] = await Promise.all([img.manifest(), img.configFile(), img.layers()]);
    return partsFromObjects({ ...manifest, annotations: { ...manifest.annotations, ...annotations } }, config, layers);
  });
}
