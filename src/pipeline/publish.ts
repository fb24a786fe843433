// After the build: digest files, docker tarball, OCI layout, then a push to every destination — in kaniko's
// order, so a failed push still leaves the local outputs. No manifest is pushed when the build failed (the target
// stage's layers may have been uploaded early, see earlyLayerUploads: without a manifest a registry shows no image).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeDockerTarball, writeIndexTarball } from '../archive/docker-tarball.ts';
import { writeOciLayout, writeOciLayoutIndex } from '../archive/oci-layout.ts';
import type { Log } from '../log.ts';
import type { Image, ImageIndex, Layer } from '../oci/image.ts';
import { imageIndex, type IndexEntry, type IndexOptions } from '../oci/index.ts';
import type { Digest } from '../oci/types.ts';
import { RegistryClient } from '../registry/client.ts';
import { formatReference, parseReference, type Reference } from '../registry/reference.ts';
import { writeImage, type RemoteOptions } from '../registry/remote.ts';
import { withRetries } from '../registry/retry.ts';
import { writeIndexMetadataFile, writeMetadataFile } from './metadata-file.ts';
import type { OutputOptions } from './options.ts';

export interface PublishDeps {
  readonly push: RemoteOptions;
  readonly log: Log;
}

async function writeTextFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, text, { mode: 0o644 });
}

function repoName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Checks every destination accepts pushes before any work is done (kaniko's CheckPushPermissions). */
export async function checkDestinations(out: OutputOptions, deps: PublishDeps): Promise<void> {
  if (out.noPush || out.skipPushPermissionCheck) return;
  const seen = new Set<string>();
  const client = deps.push.client ?? new RegistryClient(deps.push);
  try {
    for (const dest of out.destinations) {
      const ref = parseReference(dest);
      const key = repoName(ref);
      if (seen.has(key)) continue;
      seen.add(key);
      await withRetries(() => client.checkPushPermission(ref), {
        retries: deps.push.retries, log: deps.log, what: `push permission check for ${key}`,
        ...(deps.push.backoff === undefined ? {} : { backoff: deps.push.backoff }),
      });
    }
  } finally {
    if (deps.push.client === undefined) await client.close();
  }
}

/**
 * Starts uploading a layer to every destination repository while the build goes on, so the push at the end finds it
 * there (the client shares one upload per repository and digest). A failure here is not reported: the push at the end
 * tries again and reports it. Nothing is tagged early: until the manifest is put, a registry shows no image.
 * Undefined when nothing will be pushed.
 */
export function earlyLayerUploads(out: OutputOptions, deps: PublishDeps): ((layer: Layer) => void) | undefined {
  const client = deps.push.client;
  if (out.noPush || client === undefined || out.destinations.length === 0) return undefined;
  const repos = new Map<string, { registry: string; repository: string }>();
  for (const dest of out.destinations) {
    const ref = parseReference(dest);
    repos.set(repoName(ref), { registry: ref.registry, repository: ref.repository });
  }
  return (layer) => {
    for (const repo of repos.values()) {
      client.uploadBlob(repo, layer).catch((err: unknown) => {
        deps.log.debug({ repository: repo.repository, reason: (err as Error).message }, 'Early layer upload failed; the push retries it');
      });
    }
  };
}

/** The two registries' words for "this tag is immutable" (Artifact Registry, ECR), as kaniko matches them. */
const immutableTagMessages = ['The repository has enabled tag immutability', 'cannot be overwritten because the repository is immutable'];

export function isImmutableTagError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const text = [err.message, ...(err.cause instanceof Error ? [err.cause.message] : []),
    ...('diagnostics' in err && Array.isArray(err.diagnostics) ? err.diagnostics.map((d: unknown) => JSON.stringify(d)) : [])].join('\n');
  return immutableTagMessages.some((m) => text.includes(m));
}

export async function publish(image: Image, out: OutputOptions, deps: PublishDeps): Promise<Digest> {
  const { log } = deps;
  const digest = await image.digest();
  const refs = out.destinations.map((d) => parseReference(d));
  if (out.digestFile !== undefined) await writeTextFile(out.digestFile, digest);
  if (out.ociLayoutPath !== undefined) {
    await writeOciLayout(out.ociLayoutPath, image);
    log.info({ path: out.ociLayoutPath }, 'Wrote OCI layout');
  }
  const withDigest = refs.map((r) => `${repoName(r)}@${digest}`);
  const withTagDigest = refs.map((r) => `${repoName(r)}:${r.tag ?? 'latest'}@${digest}`);
  if (out.imageNameWithDigestFile !== undefined) await writeTextFile(out.imageNameWithDigestFile, withDigest.map((l) => l + '\n').join(''));
  if (out.imageNameTagWithDigestFile !== undefined) await writeTextFile(out.imageNameTagWithDigestFile, withTagDigest.map((l) => l + '\n').join(''));
  if (out.tarPath !== undefined) {
    const tags = refs.length > 0 ? refs.map((r) => `${repoName(r)}:${r.tag ?? 'latest'}`) : ['unset-repo/unset-image-name:latest'];
    await writeDockerTarball(out.tarPath, [{ tags, image }]);
    log.info({ path: out.tarPath }, 'Wrote docker tarball');
  }
  if (out.noPush) {
    log.info('Skipping push to container registry due to --no-push flag');
    if (out.metadataFile !== undefined) await writeMetadataFile(out.metadataFile, image, []);
    return digest;
  }
  for (const ref of refs) {
    const started = Date.now();
    try {
      const pushed = await writeImage(ref, image, deps.push);
      log.info({ ref: formatReference(ref), digest: pushed, durationMs: Date.now() - started }, `Pushed ${formatReference(ref)}`);
    } catch (err) {
      if (!out.ignoreImmutableTagErrors || !isImmutableTagError(err)) throw err;
      log.warn({ ref: formatReference(ref) }, `The tag of ${formatReference(ref)} is immutable and already set: not overwritten (--push-ignore-immutable-tag-errors)`);
    }
  }
  if (out.metadataFile !== undefined) await writeMetadataFile(out.metadataFile, image, refs.map((r) => formatReference(r)));
  return digest;
}

/**
 * The index a multi-platform build publishes: one manifest per [platform, image] pair. `opts.extra` is where
 * attestation manifests join later (each with its own image, so it is written and pushed like the others).
 */
export function platformIndex(entries: readonly IndexEntry[], opts: IndexOptions = {}): ImageIndex {
  return imageIndex(entries, opts);
}

/**
 * Publishes an index: digest files name the index, --oci-layout-path holds it, and every destination gets each
 * image pushed by digest, then the index under the destination's tag.
 */
export async function publishIndex(idx: ImageIndex, out: OutputOptions, deps: PublishDeps): Promise<Digest> {
  const { log } = deps;
  const digest = await idx.digest();
  const refs = out.destinations.map((d) => parseReference(d));
  if (out.digestFile !== undefined) await writeTextFile(out.digestFile, digest);
  if (out.ociLayoutPath !== undefined) {
    await writeOciLayoutIndex(out.ociLayoutPath, idx, out.ociLayoutAnnotations !== undefined ? { annotations: out.ociLayoutAnnotations } : {});
    log.info({ path: out.ociLayoutPath }, 'Wrote OCI layout (image index)');
  }
  if (out.tarPath !== undefined) {
    const tags = refs.length > 0 ? refs.map((r) => `${repoName(r)}:${r.tag ?? 'latest'}`) : ['unset-repo/unset-image-name:latest'];
    await writeIndexTarball(out.tarPath, idx, tags);
    log.info({ path: out.tarPath }, 'Wrote image tarball (OCI layout with the index, and a docker-save manifest.json)');
  }
  if (out.imageNameWithDigestFile !== undefined) await writeTextFile(out.imageNameWithDigestFile, refs.map((r) => `${repoName(r)}@${digest}\n`).join(''));
  if (out.imageNameTagWithDigestFile !== undefined) {
    await writeTextFile(out.imageNameTagWithDigestFile, refs.map((r) => `${repoName(r)}:${r.tag ?? 'latest'}@${digest}\n`).join(''));
  }
  if (out.noPush) {
    log.info('Skipping push to container registry due to --no-push flag');
    if (out.metadataFile !== undefined) await writeIndexMetadataFile(out.metadataFile, idx, []);
    return digest;
  }
  const client = deps.push.client ?? new RegistryClient(deps.push);
  try {
    const manifests = (await idx.indexManifest()).manifests;
    const raw = await idx.rawManifest();
    for (const ref of refs) {
      const started = Date.now();
      try {
        for (const d of manifests) {
          const image = await idx.image(d.digest);
          const { tag: _tag, ...rest } = ref;
          await writeImage({ ...rest, digest: d.digest }, image, { ...deps.push, client });
        }
        await client.putManifest(ref, raw, await idx.mediaType());
        log.info({ ref: formatReference(ref), digest, durationMs: Date.now() - started }, `Pushed ${formatReference(ref)} (index of ${manifests.length})`);
      } catch (err) {
        if (!out.ignoreImmutableTagErrors || !isImmutableTagError(err)) throw err;
        log.warn({ ref: formatReference(ref) }, `The tag of ${formatReference(ref)} is immutable and already set: not overwritten (--push-ignore-immutable-tag-errors)`);
      }
    }
  } finally {
    if (deps.push.client === undefined) await client.close();
  }
  if (out.metadataFile !== undefined) await writeIndexMetadataFile(out.metadataFile, idx, refs.map((r) => formatReference(r)));
  return digest;
}
