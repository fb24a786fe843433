// `docker save` format (go-containerregistry tarball.Write naming): config at "sha256:<hex>",
// layers at "<hex>.tar.gz" (deduplicated), manifest.json last. Streamed; no layer is buffered.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BuildError } from '../errors.ts';
import { digestHex } from '../oci/digest.ts';
import type { Image } from '../oci/image.ts';

export interface TarballImage {
  readonly tags: readonly string[];
  readonly image: Image;
}

interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
  LayerSources?: Record<string, unknown>;
}

const FIXED = { mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 } as const;

/** Writes one tar entry, streaming `src` into it; the size must be known in advance. */
async function writeEntry(pack: tar.Pack, name: string, size: number, src: Readable | Uint8Array): Promise<void> {
  if (src instanceof Uint8Array) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name, size, type: 'file', ...FIXED }, src, (err) => (err ? reject(err) : resolve()));
    });
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ name, size, type: 'file', ...FIXED }, (err) => (err ? reject(err) : resolve()));
    pipeline(src, sink).catch(reject);
  });
}

export async function writeDockerTarball(filePath: string, images: readonly TarballImage[]): Promise<void> {
  const pack = tar.pack();
  const out = pipeline(pack, createWriteStream(filePath));
  try {
    const manifest: ManifestEntry[] = [];
    const written = new Set<string>();
    for (const { tags, image } of images) {
      const m = await image.manifest();
      const rawConfig = await image.rawConfigFile();
      const configName = m.config.digest;
      if (!written.has(configName)) {
        await writeEntry(pack, configName, rawConfig.byteLength, rawConfig);
        written.add(configName);
      }
      const layers = await image.layers();
      const entry: ManifestEntry = { Config: configName, RepoTags: [...tags], Layers: [] };
      for (const [i, layer] of layers.entries()) {
        const desc = m.layers[i];
        if (desc === undefined) throw new BuildError('ARCHIVE', `image manifest lists fewer layers than the image has`);
        const name = `${digestHex(desc.digest)}.tar.gz`;
        entry.Layers.push(name);
        if (desc.urls !== undefined && desc.urls.length > 0) {
          // Foreign layers are recorded, as ggcr does, so loaders know where they came from.
          entry.LayerSources = { ...entry.LayerSources, [await layer.diffId()]: desc };
        }
        if (written.has(name)) continue;
        await writeEntry(pack, name, desc.size, await layer.compressed());
        written.add(name);
      }
      manifest.push(entry);
    }
    const manifestJson = new TextEncoder().encode(JSON.stringify(manifest));
    await writeEntry(pack, 'manifest.json', manifestJson.byteLength, manifestJson);
    pack.finalize();
    await out;
  } catch (err) {
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    await out.catch(() => undefined);
    await rm(filePath, { force: true });
    if (err instanceof BuildError) throw err;
    throw new BuildError('ARCHIVE', `writing image tarball ${filePath}: ${(err as Error).message}`, { cause: err });
  }
}
