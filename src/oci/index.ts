// An OCI image index built from images in memory: one descriptor per [platform, image] pair (multi-platform builds,
// `executor index`), plus extra descriptors (attestation manifests, later). Serialised deterministically so the same
// inputs give the same index digest.
import { UsageError } from '../errors.ts';
import { sha256Of } from './digest.ts';
import { memoise, orderedDescriptor, sortedRecord } from './image-from-parts.ts';
import type { Image, ImageIndex } from './image.ts';
import { formatPlatform } from './platform.ts';
import { MediaTypes, type Descriptor, type Digest, type IndexManifest, type Platform } from './types.ts';

export interface IndexEntry {
  readonly platform: Platform;
  readonly image: Image;
  /** Annotations on this image's descriptor in the index (buildx `manifest-descriptor:`). */
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface IndexOptions {
  /** Annotations of the index itself (buildx `index:`). */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Descriptors appended after the images (e.g. attestation manifests); their images resolve via `extraImages`. */
  readonly extra?: readonly { readonly descriptor: Descriptor; readonly image: Image }[];
}

/** The descriptor an image gets in an index. */
export async function describeImage(image: Image, platform: Platform, annotations?: Readonly<Record<string, string>>): Promise<Descriptor> {
  const [mediaType, digest, raw] = await Promise.all([image.mediaType(), image.digest(), image.rawManifest()]);
  return {
    mediaType, digest, size: raw.byteLength, platform,
    ...(annotations !== undefined && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

export function serialiseIndex(m: IndexManifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: m.mediaType ?? MediaTypes.ociIndex,
    manifests: m.manifests.map((d) => orderedDescriptor(d)),
    ...(m.annotations !== undefined ? { annotations: sortedRecord(m.annotations) } : {}),
  }));
}

/** An OCI image index over the given images; two entries with the same platform are refused. */
export function imageIndex(entries: readonly IndexEntry[], opts: IndexOptions = {}): ImageIndex {
  const seen = new Set<string>();
  for (const e of entries) {
    const key = formatPlatform(e.platform);
    if (seen.has(key)) throw new UsageError(`platform ${key} appears twice in the index`);
    seen.add(key);
  }
  const parts = memoise(async () => {
    const manifests = [
      ...await Promise.all(entries.map((e) => describeImage(e.image, e.platform, e.annotations))),
      ...(opts.extra ?? []).map((x) => x.descriptor),
    ];
    const manifest: IndexManifest = {
      schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests,
      ...(opts.annotations !== undefined && Object.keys(opts.annotations).length > 0 ? { annotations: opts.annotations } : {}),
    };
    const images = new Map<string, Image>();
    manifests.forEach((d, i) => {
      const img = i < entries.length ? entries[i]?.image : opts.extra?.[i - entries.length]?.image;
      if (img !== undefined) images.set(d.digest, img);
    });
    return { manifest, raw: serialiseIndex(manifest), images };
  });
  return {
    mediaType: async () => MediaTypes.ociIndex,
    digest: async (): Promise<Digest> => sha256Of((await parts()).raw),
    indexManifest: async () => (await parts()).manifest,
    rawManifest: async () => (await parts()).raw,
    async image(d: Digest): Promise<Image> {
      const img = (await parts()).images.get(d);
      if (img === undefined) throw new UsageError(`the index has no image with digest ${d}`);
      return img;
    },
  };
}
