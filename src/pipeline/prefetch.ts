// Base layers read ahead: while layer i extracts, layer i+1's compressed bytes stream from the registry into a file
// (never into memory), so the download of the next layer overlaps the extraction of this one. Only registry layers
// are read ahead; a layer already on disk (a stage's own) is read where it is.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { layerFromCompressedFile } from '../oci/layer.ts';
import { isMountable, type Layer } from '../oci/image.ts';

export interface Prefetched {
  /** The layer read from its downloaded file. */
  readonly layer: Layer;
  /** Deletes the file. */
  dispose(): Promise<void>;
}

/** Downloads a registry layer's compressed bytes (digest-verified by the client) into `dir`; undefined for a local layer. */
export async function prefetchLayer(layer: Layer, dir: string, signal: AbortSignal): Promise<Prefetched | undefined> {
  if (!isMountable(layer)) return undefined;
  await mkdir(dir, { recursive: true });
  const file = join(dir, `prefetch-${randomBytes(8).toString('hex')}`);
  try {
    await pipeline(await layer.compressed(), createWriteStream(file), { signal });
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  const [digest, size, mediaType] = await Promise.all([layer.digest(), layer.size(), layer.mediaType()]);
  const local = layerFromCompressedFile(file, { digest, size, mediaType, diffId: await layer.diffId() });
  return { layer: local, dispose: () => rm(file, { force: true }) };
}
