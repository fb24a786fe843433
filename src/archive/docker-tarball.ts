// `docker save` format (go-containerregistry tarball.Write naming): config at "sha256:<hex>",
// layers at "<hex>.tar.gz" (deduplicated), manifest.json last. Streamed; no layer is buffered.
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BuildError } from '../errors.ts';
import { digestHex, sha256Of } from '../oci/digest.ts';
import { imageFromParts, serialiseManifest } from '../oci/image-from-parts.ts';
import type { Image, ImageIndex, Layer } from '../oci/image.ts';
import { digestReadable, layerFromOpener } from '../oci/layer.ts';
import { parseConfigFile, parseJson } from '../oci/parse.ts';
import { MediaTypes, type Descriptor, type Manifest } from '../oci/types.ts';
import { indexTar, type TarMember } from './tar-index.ts';

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

/** A tar file written by `fill`, streamed; on any failure the partial file is removed and one ARCHIVE error names it. */
async function writeTarball(filePath: string, fill: (pack: tar.Pack) => Promise<void>): Promise<void> {
  const pack = tar.pack();
  const out = pipeline(pack, createWriteStream(filePath));
  try {
    await fill(pack);
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

export async function writeDockerTarball(filePath: string, images: readonly TarballImage[]): Promise<void> {
  await writeTarball(filePath, async (pack) => {
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
  });
}

/**
 * Several platforms in one tarball (--tar-path of a multi-platform build): an OCI image layout — `oci-layout`,
 * `index.json` naming the image index, every blob under `blobs/sha256/` — that also carries a docker-save
 * `manifest.json` listing each platform's image, its layers pointing at the same blobs (as `docker save` writes
 * since Docker 25). `docker load` with the containerd store and `skopeo oci-archive:` read the index; the classic
 * loader and `docker-archive:` read manifest.json, where the first platform carries the tags. Attestation
 * manifests (platform unknown/unknown) are in the index only.
 */
export async function writeIndexTarball(filePath: string, idx: ImageIndex, tags: readonly string[]): Promise<void> {
  const blob = (d: string): string => `blobs/sha256/${digestHex(d as Descriptor['digest'])}`;
  await writeTarball(filePath, async (pack) => {
    const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
    const layout = json({ imageLayoutVersion: '1.0.0' });
    await writeEntry(pack, 'oci-layout', layout.byteLength, layout);
    const written = new Set<string>();
    const manifest: ManifestEntry[] = [];
    for (const d of (await idx.indexManifest()).manifests) {
      const image = await idx.image(d.digest);
      const m = await image.manifest();
      const layers = await image.layers();
      const names: string[] = [];
      for (const [i, layer] of layers.entries()) {
        const desc = m.layers[i];
        if (desc === undefined) throw new BuildError('ARCHIVE', 'image manifest lists fewer layers than the image has');
        names.push(blob(desc.digest));
        if (written.has(desc.digest)) continue;
        await writeEntry(pack, blob(desc.digest), desc.size, await layer.compressed());
        written.add(desc.digest);
      }
      const rawConfig = await image.rawConfigFile();
      if (!written.has(m.config.digest)) { await writeEntry(pack, blob(m.config.digest), rawConfig.byteLength, rawConfig); written.add(m.config.digest); }
      const rawManifest = await image.rawManifest();
      if (!written.has(d.digest)) { await writeEntry(pack, blob(d.digest), rawManifest.byteLength, rawManifest); written.add(d.digest); }
      if (d.platform !== undefined && d.platform.os !== 'unknown') {
        manifest.push({ Config: blob(m.config.digest), RepoTags: manifest.length === 0 ? [...tags] : [], Layers: names });
      }
    }
    const rawIndex = await idx.rawManifest();
    const digest = await idx.digest();
    await writeEntry(pack, blob(digest), rawIndex.byteLength, rawIndex);
    const first = tags[0];
    const annotations = first === undefined ? {} : { annotations: { 'io.containerd.image.name': first, 'org.opencontainers.image.ref.name': first.slice(first.lastIndexOf(':') + 1) } };
    const index = json({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ mediaType: await idx.mediaType(), digest, size: rawIndex.byteLength, ...annotations }] });
    await writeEntry(pack, 'index.json', index.byteLength, index);
    const manifestJson = json(manifest);
    await writeEntry(pack, 'manifest.json', manifestJson.byteLength, manifestJson);
  });
}

function parseTarballManifest(u: unknown, what: string): Array<{ config: string; tags: string[]; layers: string[] }> {
  const bad = (m: string): never => { throw new BuildError('INVALID_JSON', `${what}: ${m}`); };
  if (!Array.isArray(u)) return bad('must be an array');
  return u.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null) return bad(`[${i}] must be an object`);
    const o = e as Record<string, unknown>;
    const config = o['Config'];
    const tags = o['RepoTags'] ?? [];
    const layers = o['Layers'];
    if (typeof config !== 'string') return bad(`[${i}].Config must be a string`);
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return bad(`[${i}].RepoTags must be an array of strings`);
    if (!Array.isArray(layers) || !layers.every((t) => typeof t === 'string')) return bad(`[${i}].Layers must be an array of strings`);
    return { config, tags: tags as string[], layers: layers as string[] };
  });
}

function memberOpener(filePath: string, m: TarMember): () => Promise<Readable> {
  return async () => (m.size === 0 ? Readable.from([]) : createReadStream(filePath, { start: m.offset, end: m.offset + m.size - 1 }));
}

async function readMember(filePath: string, m: TarMember): Promise<Buffer> {
  const fh = await open(filePath, 'r');
  try {
    const buf = Buffer.alloc(m.size);
    await fh.read(buf, 0, m.size, m.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

/**
 * Reads an image from a `docker save` / tarball.Write file (the first image, or the one tagged `tag`).
 * Compressed layers are served as they are; uncompressed ones are gzipped on the fly (deterministically).
 */
export async function readDockerTarball(filePath: string, opts: { tag?: string } = {}): Promise<Image> {
  let members: Map<string, TarMember>;
  try {
    members = await indexTar(filePath);
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw new BuildError('ARCHIVE', `reading image tarball ${filePath}: ${(err as Error).message}`, { cause: err });
  }
  const member = (name: string): TarMember => {
    const m = members.get(name.replace(/^(\.\/)+/, ''));
    if (m === undefined) throw new BuildError('ARCHIVE', `image tarball ${filePath}: has no ${JSON.stringify(name)}`);
    return m;
  };
  const what = `manifest.json in ${filePath}`;
  const entries = parseTarballManifest(parseJson(await readMember(filePath, member('manifest.json')), what), what);
  const entry = opts.tag === undefined ? entries[0] : entries.find((e) => e.tags.includes(opts.tag ?? ''));
  if (entry === undefined) {
    throw new BuildError('ARCHIVE', `image tarball ${filePath}: ${opts.tag === undefined ? 'has no images' : `has no image tagged ${opts.tag}`}`);
  }
  const rawConfig = await readMember(filePath, member(entry.config));
  const config = parseConfigFile(parseJson(rawConfig, `config in ${filePath}`), `config in ${filePath}`);
  if (config.rootfs.diff_ids.length !== entry.layers.length) {
    throw new BuildError('ARCHIVE', `image tarball ${filePath}: ${entry.layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`);
  }
  const layers: Layer[] = [];
  const descriptors: Descriptor[] = [];
  for (const [i, name] of entry.layers.entries()) {
    const m = member(name);
    const openRaw = memberOpener(filePath, m);
    const magic = await readMember(filePath, { offset: m.offset, size: Math.min(4, m.size) });
    const diffId = config.rootfs.diff_ids[i];
    const known = diffId === undefined ? {} : { diffId };
    let layer: Layer;
    if (magic[0] === 0x1f && magic[1] === 0x8b) {
      layer = layerFromOpener(openRaw, { digest: (await digestReadable(await openRaw())).digest, size: m.size, mediaType: MediaTypes.dockerLayerGzip, ...known });
    } else if (magic.readUInt32LE(0) === 0xfd2fb528) {
      layer = layerFromOpener(openRaw, { digest: (await digestReadable(await openRaw())).digest, size: m.size, mediaType: MediaTypes.dockerLayerZstd, ...known });
    } else {
      const openGz = async (): Promise<Readable> => (await openRaw()).pipe(zlib.createGzip());
      const gz = await digestReadable(await openGz());
      const gzLayer = layerFromOpener(openGz, { digest: gz.digest, size: gz.size, mediaType: MediaTypes.dockerLayerGzip, ...known });
      layer = { ...gzLayer, uncompressed: openRaw };
    }
    layers.push(layer);
    descriptors.push({ mediaType: await layer.mediaType(), size: await layer.size(), digest: await layer.digest() });
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifest,
    config: { mediaType: MediaTypes.dockerConfig, size: rawConfig.byteLength, digest: sha256Of(rawConfig) },
    layers: descriptors,
  };
  const rawManifest = serialiseManifest(manifest);
  return imageFromParts(async () => ({ manifest, rawManifest, config, rawConfig, layers }));
}
