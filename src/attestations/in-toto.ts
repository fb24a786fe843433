// in-toto statements and the attestation manifest BuildKit attaches next to each image in an index:
// an OCI manifest (config os/architecture unknown) whose layers are `application/vnd.in-toto+json` statements
// annotated `in-toto.io/predicate-type`; its index descriptor has platform unknown/unknown and
// `vnd.docker.reference.type: attestation-manifest` + `vnd.docker.reference.digest: <image manifest digest>`.
import { Readable } from 'node:stream';
import { sha256Of } from '../oci/digest.ts';
import type { Image } from '../oci/image.ts';
import { imageFromParts, partsFromObjects } from '../oci/image-from-parts.ts';
import { layerFromOpener } from '../oci/layer.ts';
import { MediaTypes, type Descriptor, type Digest, type Platform } from '../oci/types.ts';

export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
export const SPDX_PREDICATE = 'https://spdx.dev/Document';

export interface Statement {
  readonly _type: 'https://in-toto.io/Statement/v0.1';
  readonly predicateType: string;
  readonly subject: readonly { readonly name: string; readonly digest: Readonly<Record<string, string>> }[];
  readonly predicate: unknown;
}

/** The statement's subject as BuildKit writes it: pkg:docker/NAME@TAG?platform=…, the image manifest's digest. */
export function statement(predicateType: string, predicate: unknown, subject: { names: readonly string[]; digest: Digest }): Statement {
  return {
    _type: 'https://in-toto.io/Statement/v0.1', predicateType,
    subject: subject.names.map((name) => ({ name, digest: { sha256: subject.digest.slice('sha256:'.length) } })),
    predicate,
  };
}

const UNKNOWN: Platform = { architecture: 'unknown', os: 'unknown' };

/** The attestation manifest for one image, and its descriptor for the index. */
export async function attestationManifest(imageDigest: Digest, statements: readonly Statement[]): Promise<{ image: Image; descriptor: Descriptor }> {
  const blobs = statements.map((s) => ({ bytes: new TextEncoder().encode(JSON.stringify(s)), predicateType: s.predicateType }));
  const layers = blobs.map((b) => {
    const digest = sha256Of(b.bytes);
    return layerFromOpener(async () => Readable.from([Buffer.from(b.bytes)]), { digest, diffId: digest, size: b.bytes.byteLength, mediaType: IN_TOTO_MEDIA_TYPE });
  });
  const parts = partsFromObjects({
    schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: MediaTypes.ociConfig },
    layers: blobs.map((b) => ({ mediaType: IN_TOTO_MEDIA_TYPE, digest: sha256Of(b.bytes), size: b.bytes.byteLength,
      annotations: { [PREDICATE_TYPE_ANNOTATION]: b.predicateType } })),
  }, { architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: blobs.map((b) => sha256Of(b.bytes)) } }, layers);
  const image = imageFromParts(async () => parts);
  return {
    image,
    descriptor: {
      mediaType: MediaTypes.ociManifest, digest: sha256Of(parts.rawManifest), size: parts.rawManifest.byteLength,
      annotations: { 'vnd.docker.reference.digest': imageDigest, 'vnd.docker.reference.type': 'attestation-manifest' },
      platform: UNKNOWN,
    },
  };
}
