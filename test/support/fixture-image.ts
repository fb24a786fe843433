// Test-only: small images built in memory (tiny tar layers), implementing the Image and Layer
// interfaces directly so registry tests do not depend on the rest of the image model.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { Image, Layer, MountableLayer } from '../../src/oci/image.ts';
import { MediaTypes, type ConfigFile, type Digest, type Manifest, type Platform } from '../../src/oci/types.ts';

export interface FixtureFile {
  readonly name: string;
  readonly content: string | Uint8Array;
}

export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

/** A deterministic tar of `files` (fixed mtime, uid 0). */
export async function tarOf(files: readonly FixtureFile[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const f of files) {
    const body = typeof f.content === 'string' ? Buffer.from(f.content) : Buffer.from(f.content);
    pack.entry({ name: f.name, size: body.length, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface FixtureLayer extends Layer {
  readonly compressedBytes: Buffer;
  readonly tarBytes: Buffer;
}

/** A gzip layer (or an uncompressed one with gzip: false) over an in-memory tar. */
export function layerOfTar(tarBytes: Buffer, opts: { gzip?: boolean } = {}): FixtureLayer {
  const gzip = opts.gzip ?? true;
  const compressedBytes = gzip ? gzipSync(tarBytes, { level: 1 }) : tarBytes;
  const digest = sha256(compressedBytes);
  const diffId = sha256(tarBytes);
  return {
    compressedBytes,
    tarBytes,
    digest: async () => digest,
    diffId: async () => diffId,
    size: async () => compressedBytes.length,
    mediaType: async () => (gzip ? MediaTypes.ociLayerGzip : MediaTypes.ociLayer),
    compressed: async () => Readable.from([compressedBytes]),
    uncompressed: async () => Readable.from([tarBytes]),
  };
}

export async function fixtureLayer(files: readonly FixtureFile[], opts: { gzip?: boolean } = {}): Promise<FixtureLayer> {
  return layerOfTar(await tarOf(files), opts);
}

/** The same layer, claiming to be mountable from `source`. */
export function asMountable(layer: Layer, source: { registry: string; repository: string }): MountableLayer {
  return { ...layer, source };
}

export interface FixtureImage extends Image {
  readonly layerList: readonly Layer[];
}

export async function fixtureImage(
  layers: readonly Layer[],
  opts: { platform?: Platform; format?: 'oci' | 'docker'; env?: readonly string[] } = {},
): Promise<FixtureImage> {
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const docker = opts.format === 'docker';
  const diffIds = await Promise.all(layers.map((l) => l.diffId()));
  const config: ConfigFile = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    created: '1970-01-01T00:00:00Z',
    config: { Env: opts.env ?? ['PATH=/usr/bin:/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map(() => ({ created: '1970-01-01T00:00:00Z', created_by: 'fixture' })),
  };
  const rawConfig = new TextEncoder().encode(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest,
    config: { mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig, digest: sha256(rawConfig), size: rawConfig.byteLength },
    layers: await Promise.all(layers.map(async (l) => ({
      mediaType: docker ? MediaTypes.dockerLayerGzip : await l.mediaType(), digest: await l.digest(), size: await l.size(),
    }))),
  };
  const rawManifest = new TextEncoder().encode(JSON.stringify(manifest));
  const digest = sha256(rawManifest);
  return {
    layerList: layers,
    mediaType: async () => manifest.mediaType ?? MediaTypes.ociManifest,
    manifest: async () => manifest,
    rawManifest: async () => rawManifest,
    digest: async () => digest,
    configFile: async () => config,
    rawConfigFile: async () => rawConfig,
    layers: async () => layers,
    async layerByDigest(d: Digest): Promise<Layer> {
      for (const l of layers) if (await l.digest() === d) return l;
      throw new Error(`no layer ${d}`);
    },
  };
}

/** Reads a stream to a Buffer (test-only: fixtures are tiny). */
export async function readStream(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** Names of the entries in a (possibly gzipped) tar. */
export async function tarEntryNames(bytes: Buffer): Promise<string[]> {
  const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const extract = tar.extract();
  const names: string[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      names.push(entry.header.name);
      entry.resume();
    }
  })();
  extract.end(plain);
  await done;
  return names;
}
