// --sbom / --attest: what to attach, and the SBOM of a built image (scanned from its filesystem) as an attestation
// manifest for the index, in BuildKit's layout (see attestations/in-toto.ts).
import { mkdir, rm } from 'node:fs/promises';
import fs from 'node:fs';
import { basename, isAbsolute, join, relative } from 'node:path';
import git from 'isomorphic-git';
import { attestationManifest, SPDX_PREDICATE, statement, type Statement } from '../attestations/in-toto.ts';
import { provenancePredicate, SLSA_V02_PREDICATE, type ProvenanceInput } from '../attestations/provenance.ts';
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
  /** SLSA provenance v0.2; off unless asked (buildx's default is min when pushing). */
  readonly provenance?: 'min' | 'max';
}

function provenanceMode(flag: string, value: string | undefined): 'min' | 'max' | undefined {
  if (value === undefined || value === 'true' || value === 'min' || value === '') return 'min';
  if (value === 'max') return 'max';
  if (value === 'false') return undefined;
  throw new UsageError(`${flag}: mode ${JSON.stringify(value)}: want min or max`);
}

/** --sbom[=true|false] and every --attest type=sbom[,…] (buildx's spellings); an unknown type is a usage error. */
export function parseAttestFlags(sbom: boolean, attests: readonly string[], provenance?: string): AttestRequest {
  let want = sbom;
  let prov: 'min' | 'max' | undefined;
  if (provenance !== undefined) {
    const v = provenance.trim();
    if (v === 'false') prov = undefined;
    else if (v === 'true' || v === 'min' || v === 'max') prov = v === 'max' ? 'max' : 'min';
    else {
      const m = /^mode=(.*)$/.exec(v);
      if (m === null) throw new UsageError(`--provenance ${JSON.stringify(provenance)}: want mode=min|max (or true/false)`);
      prov = provenanceMode(`--provenance ${JSON.stringify(provenance)}`, m[1]);
    }
  }
  for (const a of attests) {
    const fields = new Map<string, string>();
    for (const part of a.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`--attest ${JSON.stringify(a)}: want type=sbom|provenance[,KEY=VALUE…]`);
      fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const type = fields.get('type');
    if (type === 'sbom') { want = fields.get('disabled') !== 'true'; continue; }
    if (type === 'provenance') {
      prov = fields.get('disabled') === 'true' ? undefined : provenanceMode(`--attest ${JSON.stringify(a)}`, fields.get('mode'));
      continue;
    }
    throw new UsageError(`--attest ${JSON.stringify(a)}: unknown type ${JSON.stringify(type ?? '')} (want sbom or provenance)`);
  }
  return { sbom: want, ...(prov !== undefined ? { provenance: prov } : {}) };
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
 * The SBOM statement of `image`. `root` holds its files when `unpacked`; otherwise its
 * layers are extracted into a scratch directory first (every step was a cache hit, or none needed files).
 */
export async function sbomStatement(image: Image, root: string, unpacked: boolean, deps: SbomDeps): Promise<Statement> {
  let dir = root;
  if (!unpacked) {
    dir = join(deps.scratchDir, 'sbom-root');
    await mkdir(dir, { recursive: true });
    for (const layer of await image.layers()) await extractLayer(dir, await layer.uncompressed(), { ignore: createIgnoreList([]), log: deps.log });
  }
  const started = Date.now();
  const packages = await scanRoot(dir, { skip: deps.skip, warn: (line) => deps.log.warn(line) });
  if (!unpacked) await rm(dir, { recursive: true, force: true });
  const names = subjectNames(deps.destinations, deps.platform);
  deps.log.info({ packages: packages.length, durationMs: Date.now() - started }, `SBOM: ${packages.length} packages for ${formatPlatform(deps.platform)}`);
  const digest = await image.digest();
  const doc = spdxDocument(packages, { name: names[0] ?? 'sbom', created: (deps.now ?? (() => new Date()))(), tool: deps.tool });
  return statement(SPDX_PREDICATE, doc, { names, digest });
}

/** The provenance statement of `image`. */
export async function provenanceStatement(image: Image, destinations: readonly string[], platform: Platform, input: ProvenanceInput): Promise<Statement> {
  return statement(SLSA_V02_PREDICATE, provenancePredicate(input), { names: subjectNames(destinations, platform), digest: await image.digest() });
}

/** One attestation manifest per image holding its statements (SBOM first, then provenance, as BuildKit). */
export async function attestationFor(image: Image, statements: readonly Statement[]): Promise<{ image: Image; descriptor: Descriptor }> {
  return attestationManifest(await image.digest(), statements);
}

/** The checked-out commit of a fetched git context (undefined when the directory is no git checkout). */
export async function gitHead(dir: string): Promise<string | undefined> {
  try { return await git.resolveRef({ fs, dir, ref: 'HEAD' }); } catch { return undefined; }
}

/** The Dockerfile as provenance names it: relative to the context when inside it. */
export function dockerfileName(contextDir: string, dockerfilePath: string): string {
  const rel = relative(contextDir, dockerfilePath);
  return rel.startsWith('..') || isAbsolute(rel) ? basename(dockerfilePath) : rel;
}
