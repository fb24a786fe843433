// --sbom / --attest: what to attach, and the SBOM of a built image (scanned from its filesystem) as an attestation
// manifest for the index, in BuildKit's layout (see attestations/in-toto.ts).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { attestationManifest, SPDX_PREDICATE, statement } from '../attestations/in-toto.ts';
import { scanRoot } from '../attestations/packages.ts';
import { spdxDocument } from '../attestations/spdx.ts';
import { UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import type { Descriptor, Image } from '../oci/image.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { parseReference } from '../registry/reference.ts';
import { createIgnoreList } from '../rootfs/ignore-list.ts';
import { extractLayer } from '../rootfs/extract.ts';

export interface AttestRequest {
  readonly sbom: boolean;
}

/** --sbom[=true|false] and every --attest type=sbom[,…] (buildx's spellings); an unknown type is a usage error. */
export function parseAttestFlags(sbom: boolean, attests: readonly string[]): AttestRequest {
  let want = sbom;
  for (const a of attests) {
    const fields = new Map<string, string>();
    for (const part of a.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`--attest ${JSON.stringify(a)}: want type=sbom|provenance[,KEY=VALUE…]`);
      fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const type = fields.get('type');
    if (type === 'sbom') { want = fields.get('disabled') !== 'true'; continue; }
    if (type === 'provenance') throw new UsageError(`--attest ${JSON.stringify(a)}: provenance attestations are not supported yet`);
    throw new UsageError(`--attest ${JSON.stringify(a)}: unknown type ${JSON.stringify(type ?? '')} (want sbom or provenance)`);
  }
  return { sbom: want };
}

/** The subject names BuildKit gives an attested image: pkg:docker/REPO@TAG?platform=os%2Farch per destination. */
export function subjectNames(destinations: readonly string[], platform: Platform): string[] {
  const q = `?platform=${encodeURIComponent(formatPlatform(platform))}`;
  if (destinations.length === 0) return [`pkg:docker/unset-repo/unset-image-name@latest${q}`];
  return destinations.map((d) => {
    const r = parseReference(d);
    return `pkg:docker/${r.registry}/${r.repository}@${r.tag ?? 'latest'}${q}`;
  });
}

export interface SbomDeps {
  readonly destinations: readonly string[];
  readonly platform: Platform;
  /** Paths (as the image sees them) not scanned: the executor's own directory, the work directory. */
  readonly skip: readonly string[];
  readonly scratchDir: string;
  readonly tool: string;
  readonly log: Log;
  readonly now?: () => Date;
}

/**
 * The attestation manifest holding the SBOM of `image`. `root` holds its files when `unpacked`; otherwise its
 * layers are extracted into a scratch directory first (every step was a cache hit, or none needed files).
 */
export async function sbomAttestation(image: Image, root: string, unpacked: boolean, deps: SbomDeps): Promise<{ image: Image; descriptor: Descriptor }> {
  let dir = root;
  if (!unpacked) {
    dir = join(deps.scratchDir, 'sbom-root');
    await mkdir(dir, { recursive: true });
    for (const layer of await image.layers()) await extractLayer(dir, await layer.uncompressed(), { ignore: createIgnoreList([]), log: deps.log });
  }
  const started = Date.now();
  const packages = await scanRoot(dir, { skip: deps.skip });
  if (!unpacked) await rm(dir, { recursive: true, force: true });
  const names = subjectNames(deps.destinations, deps.platform);
  deps.log.info({ packages: packages.length, durationMs: Date.now() - started }, `SBOM: ${packages.length} packages for ${formatPlatform(deps.platform)}`);
  const digest = await image.digest();
  const doc = spdxDocument(packages, { name: names[0] ?? 'sbom', created: (deps.now ?? (() => new Date()))(), tool: deps.tool });
  return attestationManifest(digest, [statement(SPDX_PREDICATE, doc, { names, digest })]);
}
