// An SPDX 2.3 JSON document over the packages a scan found (the shape syft's SPDX-JSON output has, which BuildKit's
// SBOM generator attaches): one package per find, a purl external reference each, DESCRIBES from the document.
import { createHash, randomUUID } from 'node:crypto';
import type { FoundPackage } from './packages.ts';

export interface SpdxOptions {
  /** The image the document describes (the first destination, or a placeholder). */
  readonly name: string;
  readonly created: Date;
  readonly tool: string;
}

const SOURCE: Readonly<Record<FoundPackage['type'], string>> = {
  deb: 'DPKG DB', apk: 'APK DB', rpm: 'RPM DB', npm: 'installed node module manifest', pypi: 'installed python package manifest', golang: 'go module information',
};

function spdxId(p: FoundPackage): string {
  const hash = createHash('sha256').update(`${p.purl}\n${p.location}`).digest('hex').slice(0, 16);
  return `SPDXRef-Package-${p.type}-${p.name.replace(/[^A-Za-z0-9.-]/g, '-')}-${hash}`;
}

/** A license field as SPDX accepts it: a simple expression of ids, else NOASSERTION. */
function licenseOf(p: FoundPackage): string {
  const l = p.license?.trim();
  return l !== undefined && /^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$/.test(l) && !/^(UNKNOWN|SEE)$/i.test(l) ? l : 'NOASSERTION';
}

export function spdxDocument(packages: readonly FoundPackage[], opts: SpdxOptions): Record<string, unknown> {
  const pkgs = packages.map((p) => ({
    name: p.name,
    SPDXID: spdxId(p),
    versionInfo: p.version,
    ...(p.supplier !== undefined && p.supplier !== '' ? { supplier: `Organization: ${p.supplier.replace(/\n/g, ' ')}` } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    sourceInfo: `acquired package info from ${SOURCE[p.type]}: ${p.location}`,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: licenseOf(p),
    copyrightText: 'NOASSERTION',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
  }));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: opts.name,
    documentNamespace: `https://kaniko-ts.invalid/spdx/${encodeURIComponent(opts.name)}-${randomUUID()}`,
    creationInfo: { creators: [`Tool: ${opts.tool}`], created: opts.created.toISOString().replace(/\.\d{3}Z$/, 'Z') },
    packages: pkgs,
    relationships: pkgs.map((p) => ({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: p.SPDXID })),
  };
}
