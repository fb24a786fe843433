// --metadata-file: the JSON `docker buildx build --metadata-file` writes for the next CI step. Keys as buildx names
// them; `image.name` (the destinations, comma-separated) only when something was pushed.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Image, ImageIndex } from '../oci/image.ts';

export interface BuildMetadata {
  readonly 'containerimage.config.digest': string;
  readonly 'containerimage.descriptor': { readonly mediaType: string; readonly digest: string; readonly size: number };
  readonly 'containerimage.digest': string;
  readonly 'image.name'?: string;
}

/** The metadata of `image` (the manifest that was pushed or written); `names` are the destinations pushed to. */
export async function buildMetadata(image: Image, names: readonly string[]): Promise<BuildMetadata> {
  const [digest, mediaType, raw, manifest] = await Promise.all([image.digest(), image.mediaType(), image.rawManifest(), image.manifest()]);
  return {
    'containerimage.config.digest': manifest.config.digest,
    'containerimage.descriptor': { mediaType, digest, size: raw.byteLength },
    'containerimage.digest': digest,
    ...(names.length > 0 ? { 'image.name': names.join(',') } : {}),
  };
}

export async function writeMetadataFile(path: string, image: Image, names: readonly string[]): Promise<void> {
  const metadata = await buildMetadata(image, names);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify(metadata, null, 2) + '\n', { mode: 0o644 });
}

/**
 * The metadata of a pushed index (several platforms, or one with attestations): buildx names the index's digest and
 * descriptor, and the config of the first image (not an attestation manifest).
 */
export async function writeIndexMetadataFile(path: string, idx: ImageIndex, names: readonly string[]): Promise<void> {
  const [digest, mediaType, raw, manifest] = await Promise.all([idx.digest(), idx.mediaType(), idx.rawManifest(), idx.indexManifest()]);
  const first = manifest.manifests.find((d) => d.platform?.os !== 'unknown');
  const config = first !== undefined ? (await (await idx.image(first.digest)).manifest()).config.digest : undefined;
  const metadata = {
    ...(config !== undefined ? { 'containerimage.config.digest': config } : {}),
    'containerimage.descriptor': { mediaType, digest, size: raw.byteLength },
    'containerimage.digest': digest,
    ...(names.length > 0 ? { 'image.name': names.join(',') } : {}),
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify(metadata, null, 2) + '\n', { mode: 0o644 });
}
