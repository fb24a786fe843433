// `executor index --destination=REF SRC_REF…` (buildx imagetools create, crane index append): reads each source's
// platform from its config (a source that is an index gives all its entries, attestation manifests too), then pushes every source image by digest into the destination repository (blobs of the
// same registry are mounted, others streamed across) and the index under the destination's tag.
import { resolve } from 'node:path';
import { publishIndex } from '../pipeline/publish.ts';
import { UsageError } from '../errors.ts';
import { annotationsFor, parseAnnotation } from '../oci/annotations.ts';
import type { Image } from '../oci/image.ts';
import { imageIndex, type IndexEntry } from '../oci/index.ts';
import { manifestKind, parseIndexManifest, parseJson } from '../oci/parse.ts';
import { hostPlatform, platformMatches } from '../oci/platform.ts';
import { MediaTypes, type Descriptor, type Platform } from '../oci/types.ts';
import { RegistryClient } from '../registry/client.ts';
import { formatReference, parseReference } from '../registry/reference.ts';
import { remoteImage } from '../registry/remote.ts';
import { startCommandLine } from './command-line.ts';
import { registryOptions } from './executor-options.ts';
import { indexFlags } from './flags.ts';
import type { CliIo } from './run-cli.ts';

const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaTypes.ociConfig, MediaTypes.dockerConfig]);

export async function indexMain(io: CliIo): Promise<void> {
  const { flags, log, operands } = startCommandLine(io, 'executor index', 'Push an OCI image index of images already pushed', indexFlags, { operands: true });
  const destinations = flags.list('destination');
  if (destinations.length === 0) throw new UsageError('executor index: --destination is required');
  if (operands.length === 0) throw new UsageError('executor index: name at least one source image (executor index --destination=REF SRC_REF…)');
  const annotations = flags.list('annotation').map(parseAnnotation);
  const bad = annotations.find((a) => a.target !== 'index' && a.target !== 'manifest-descriptor');
  if (bad !== undefined) throw new UsageError(`--annotation ${bad.target}:${bad.key}: executor index sets only index: and manifest-descriptor: annotations`);
  const refs = destinations.map((d) => parseReference(d));
  const kanikoDir = flags.string('kaniko-dir') ?? '/kaniko';
  const host = hostPlatform();
  const pullSettings = registryOptions(flags, 'pull', { env: io.env, log, kanikoDir, platform: host });
  const pushSettings = registryOptions(flags, 'push', { env: io.env, log, kanikoDir, platform: host });
  const pull = { ...pullSettings, client: new RegistryClient(pullSettings) };
  const push = { ...pushSettings, client: new RegistryClient(pushSettings) };
  try {
    const entries: IndexEntry[] = [];
    const extra: { descriptor: Descriptor; image: Image }[] = [];
    for (const src of operands) {
      const ref = parseReference(src);
      const fetched = await pull.client.getManifest(ref);
      const parsed = parseJson(fetched.bytes, `manifest of ${src}`);
      if (manifestKind(parsed, fetched.mediaType) === 'index') {
        // buildx imagetools create: an index source contributes every manifest it lists, attestations included.
        for (const d of parseIndexManifest(parsed, `index ${formatReference(ref)}`).manifests) {
          if (d.mediaType === MediaTypes.ociIndex || d.mediaType === MediaTypes.dockerManifestList) {
            throw new UsageError(`executor index: source ${formatReference(ref)} lists a nested index (${d.digest}); name its images instead`);
          }
          const image = await remoteImage({ registry: ref.registry, repository: ref.repository, digest: d.digest }, pull);
          if (d.platform === undefined || d.platform.os === 'unknown') extra.push({ descriptor: d, image });
          else {
            const descriptorAnnotations = annotationsFor(annotations, 'manifest-descriptor', (want) => platformMatches(d.platform ?? host, want));
            const merged = { ...d.annotations, ...descriptorAnnotations };
            entries.push({ platform: d.platform, image, ...(Object.keys(merged).length > 0 ? { annotations: merged } : {}) });
          }
        }
        continue;
      }
      const image: Image = await remoteImage({ ...ref, ...(ref.digest === undefined ? {} : { digest: ref.digest }) }, pull);
      const manifest = await image.manifest();
      if (!CONFIG_TYPES.has(manifest.config.mediaType)) {
        throw new UsageError(`executor index: source ${formatReference(ref)} is not an image (config media type ${manifest.config.mediaType})`);
      }
      const config = await image.configFile();
      const platform: Platform = { os: config.os, architecture: config.architecture,
        ...(config.variant !== undefined && config.variant !== '' ? { variant: config.variant } : {}),
        ...(config['os.version'] !== undefined ? { 'os.version': config['os.version'] } : {}) };
      const descriptorAnnotations = annotationsFor(annotations, 'manifest-descriptor', (want) => platformMatches(platform, want));
      entries.push({ platform, image, ...(Object.keys(descriptorAnnotations).length > 0 ? { annotations: descriptorAnnotations } : {}) });
    }
    const idx = imageIndex(entries, { annotations: annotationsFor(annotations, 'index'), extra });
    await idx.indexManifest();
    const digestFile = flags.string('digest-file');
    const digest = await publishIndex(idx, {
      destinations: refs.map((r) => formatReference(r)), noPush: false, skipPushPermissionCheck: true,
      ...(digestFile !== undefined ? { digestFile: resolve(digestFile) } : {}),
    }, { push, log });
    log.info({ digest }, `Pushed index with digest ${digest}`);
  } finally {
    await Promise.allSettled([pull.client.close(), push.client.close()]);
  }
}
