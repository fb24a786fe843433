// OCI image layout directories (oci-layout, index.json, blobs/sha256/<hex>): writing one image
// (index.json is replaced, as kaniko does) and reading an image back with layers served from disk.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError } from '../errors.ts';
import { digestHex, sha256Of, verifyingStream } from '../oci/digest.ts';
import { imageFromParts, orderedDescriptor } from '../oci/image-from-parts.ts';
import type { Image, ImageIndex } from '../oci/image.ts';
import { layerFromOpener } from '../oci/layer.ts';
import { manifestKind, parseConfigFile, parseIndexManifest, parseJson, parseManifest } from '../oci/parse.ts';
import { formatPlatform, platformMatches } from '../oci/platform.ts';
import { MediaTypes, type Descriptor, type Digest, type Platform } from '../oci/types.ts';

const REF_NAME = 'org.opencontainers.image.ref.name';

export function blobPath(dir: string, digest: Digest): string {
  return path.join(dir, 'blobs', 'sha256', digestHex(digest));
}

async function exists(p: string, size: number): Promise<boolean> {
  try {
    return (await stat(p)).size === size;
  } catch {
    return false;
  }
}

function tempName(p: string): string {
  return `${p}.tmp-${randomBytes(6).toString('hex')}`;
}

/** Writes a blob via a temp file + rename (verifying digest and size) unless it is already there. */
async function writeBlob(dir: string, digest: Digest, size: number, open: () => Promise<Readable | Uint8Array>): Promise<void> {
  const dest = blobPath(dir, digest);
  if (await exists(dest, size)) return;
  const tmp = tempName(dest);
  try {
    const src = await open();
    if (src instanceof Uint8Array) {
      if (sha256Of(src) !== digest) throw new BuildError('DIGEST_MISMATCH', `blob ${digest}: content does not match its digest`);
      await writeFile(tmp, src);
    } else {
      await pipeline(src, verifyingStream(digest, size, `blob ${digest}`), createWriteStream(tmp));
    }
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof BuildError) throw err;
    throw new BuildError('ARCHIVE', `writing blob ${digest} to OCI layout ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

export interface WriteOciLayoutOptions {
  /** Recorded as the org.opencontainers.image.ref.name annotation in index.json. */
  readonly refName?: string;
  /** More annotations of the entry in index.json (buildx's index-descriptor: annotations). */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Writes an image's layer, config and manifest blobs into the layout's blobs/ (no index.json). */
async function writeImageBlobs(dir: string, img: Image): Promise<{ digest: Digest; size: number; mediaType: string }> {
  const manifest = await img.manifest();
  const layers = await img.layers();
  for (const [i, layer] of layers.entries()) {
    const desc = manifest.layers[i];
    if (desc === undefined) throw new BuildError('ARCHIVE', 'image manifest lists fewer layers than the image has');
    await writeBlob(dir, desc.digest, desc.size, () => layer.compressed());
  }
  const rawConfig = await img.rawConfigFile();
  await writeBlob(dir, manifest.config.digest, rawConfig.byteLength, async () => rawConfig);
  const rawManifest = await img.rawManifest();
  const digest = await img.digest();
  await writeBlob(dir, digest, rawManifest.byteLength, async () => rawManifest);
  return { digest, size: rawManifest.byteLength, mediaType: manifest.mediaType ?? MediaTypes.ociManifest };
}

async function writeLayoutIndex(dir: string, entry: Descriptor, refName: string | undefined): Promise<void> {
  const withRef: Descriptor = { ...entry, ...(refName !== undefined ? { annotations: { ...entry.annotations, [REF_NAME]: refName } } : {}) };
  const index = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [orderedDescriptor(withRef)] };
  const indexPath = path.join(dir, 'index.json');
  const tmp = tempName(indexPath);
  await writeFile(tmp, JSON.stringify(index));
  await rename(tmp, indexPath);
}

export async function writeOciLayout(dir: string, img: Image, opts: WriteOciLayoutOptions = {}): Promise<Digest> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const { digest, size, mediaType } = await writeImageBlobs(dir, img);
  await writeLayoutIndex(dir, { mediaType, size, digest }, opts.refName);
  return digest;
}

/**
 * An image index in an OCI layout: every image's blobs, the index blob, and index.json pointing at the index
 * (as BuildKit's oci exporter writes a multi-platform result).
 */
export async function writeOciLayoutIndex(dir: string, idx: ImageIndex, opts: WriteOciLayoutOptions = {}): Promise<Digest> {
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const d of (await idx.indexManifest()).manifests) await writeImageBlobs(dir, await idx.image(d.digest));
  const raw = await idx.rawManifest();
  const digest = await idx.digest();
  await writeBlob(dir, digest, raw.byteLength, async () => raw);
  const annotations = opts.annotations !== undefined && Object.keys(opts.annotations).length > 0 ? { annotations: { ...opts.annotations } } : {};
  await writeLayoutIndex(dir, { mediaType: MediaTypes.ociIndex, size: raw.byteLength, digest, ...annotations }, opts.refName);
  return digest;
}

async function readBlob(dir: string, desc: Pick<Descriptor, 'digest' | 'size'>, what: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(blobPath(dir, desc.digest));
  } catch (err) {
    throw new BuildError('ARCHIVE', `OCI layout ${dir}: cannot read ${what} blob ${desc.digest}: ${(err as Error).message}`, { cause: err });
  }
  if (sha256Of(bytes) !== desc.digest || bytes.byteLength !== desc.size) {
    throw new BuildError('DIGEST_MISMATCH', `OCI layout ${dir}: ${what} blob ${desc.digest} does not match its digest/size`);
  }
  return bytes;
}

export interface ReadOciLayoutOptions {
  /** Pick this manifest from index.json instead of the first one. */
  readonly digest?: Digest;
  /**
   * With `digest`: one index.json does not list but whose blob is in the layout (a platform's manifest inside an
   * index) is read directly, as BuildKit's oci-layout source does.
   */
  readonly unlisted?: boolean;
  /** Pick the index.json entry named so (`io.containerd.image.name`, then `org.opencontainers.image.ref.name`, as buildx). */
  readonly refName?: string;
  /** In an image index, the manifest for this platform (default: the first entry). */
  readonly platform?: Platform;
}

/** Resolves index.json (and nested indexes, first entry) to an image manifest descriptor. */
async function resolveImageDescriptor(dir: string, opts: ReadOciLayoutOptions): Promise<Descriptor> {
  const indexPath = path.join(dir, 'index.json');
  let raw: Uint8Array;
  try {
    raw = await readFile(indexPath);
  } catch (err) {
    throw new BuildError('ARCHIVE', `${indexPath}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  let index = parseIndexManifest(parseJson(raw, indexPath), indexPath);
  const named = (key: string): Descriptor | undefined => index.manifests.find((m) => m.annotations?.[key] === opts.refName);
  let chosen = opts.digest !== undefined ? index.manifests.find((m) => m.digest === opts.digest)
    : opts.refName !== undefined ? named('io.containerd.image.name') ?? named(REF_NAME) : index.manifests[0];
  if (chosen === undefined && opts.digest !== undefined && opts.unlisted === true) chosen = await unlistedBlob(dir, opts.digest);
  if (chosen === undefined) {
    throw new BuildError('ARCHIVE', `${indexPath}: ${opts.digest !== undefined ? `has no manifest ${opts.digest}`
      : opts.refName !== undefined ? `has no manifest named ${JSON.stringify(opts.refName)}` : 'has no manifests'}`);
  }
  let desc: Descriptor = chosen;
  for (let depth = 0; depth < 4; depth++) {
    if (desc.mediaType !== MediaTypes.ociIndex && desc.mediaType !== MediaTypes.dockerManifestList) return desc;
    const what = `index ${desc.digest} in ${dir}`;
    index = parseIndexManifest(parseJson(await readBlob(dir, desc, 'index'), what), what);
    const want = opts.platform;
    const first = want === undefined ? index.manifests[0] : index.manifests.find((m) => platformMatches(m.platform, want));
    if (first === undefined) throw new BuildError('ARCHIVE', `${what}: has ${want === undefined ? 'no manifests' : `no manifest for ${formatPlatform(want)}`}`);
    desc = first;
  }
  throw new BuildError('ARCHIVE', `OCI layout ${dir}: indexes nested too deeply`);
}

/** A manifest or index blob that index.json does not list: its descriptor from the blob itself. */
async function unlistedBlob(dir: string, digest: Digest): Promise<Descriptor | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(blobPath(dir, digest));
  } catch {
    return undefined;
  }
  const u = parseJson(bytes, `blob ${digest} in ${dir}`);
  const mediaType = typeof u === 'object' && u !== null && 'mediaType' in u && typeof u.mediaType === 'string' ? u.mediaType
    : manifestKind(u) === 'image' ? MediaTypes.ociManifest : MediaTypes.ociIndex;
  return { mediaType: mediaType as Descriptor['mediaType'], digest, size: bytes.byteLength };
}

export async function readOciLayout(dir: string, opts: ReadOciLayoutOptions = {}): Promise<Image> {
  const desc = await resolveImageDescriptor(dir, opts);
  const what = `manifest ${desc.digest} in OCI layout ${dir}`;
  const rawManifest = await readBlob(dir, desc, 'manifest');
  const u = parseJson(rawManifest, what);
  if (manifestKind(u) !== 'image') throw new BuildError('ARCHIVE', `${what}: is an index, not an image manifest`);
  const manifest = parseManifest(u, what);
  const rawConfig = await readBlob(dir, manifest.config, 'config');
  const config = parseConfigFile(parseJson(rawConfig, `config of ${what}`), `config of ${what}`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new BuildError('ARCHIVE', `${what}: ${manifest.layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`);
  }
  const layers = manifest.layers.map((l, i) => layerFromOpener(
    async () => {
      const p = blobPath(dir, l.digest);
      await stat(p).catch((err: unknown) => {
        throw new BuildError('ARCHIVE', `OCI layout ${dir}: layer blob ${l.digest} missing`, { cause: err });
      });
      const verify = verifyingStream(l.digest, l.size, `layer blob ${l.digest} in ${dir}`);
      const src = createReadStream(p);
      src.on('error', (err) => verify.destroy(err));
      verify.on('error', () => src.destroy());
      return src.pipe(verify);
    },
    { digest: l.digest, size: l.size, mediaType: l.mediaType, ...(config.rootfs.diff_ids[i] !== undefined ? { diffId: config.rootfs.diff_ids[i] } : {}) },
  ));
  return imageFromParts(async () => ({ manifest, rawManifest, config, rawConfig, layers }));
}

