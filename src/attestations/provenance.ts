// SLSA provenance v0.2 (BuildKit's default predicate, `https://slsa.dev/provenance/v0.2`), in the shape BuildKit's
// `mode=min|max` writes: builder, buildType, invocation (configSource, parameters, environment), materials, metadata;
// `max` adds the Dockerfile (metadata …#metadata.source) and the per-step details (buildConfig). Secret values never
// appear: only what the caller passes in, and callers pass secret ids at most.
export const SLSA_V02_PREDICATE = 'https://slsa.dev/provenance/v0.2';
const BUILD_TYPE = 'https://mobyproject.org/buildkit@v1';

export interface Material {
  /** pkg:docker/REF?platform=… for images, the git URL for a git context. */
  readonly uri: string;
  readonly digest: Readonly<Record<string, string>>;
}

export interface StepRecord {
  readonly stage: string;
  readonly line: number;
  readonly instruction: string;
  readonly cached: boolean;
  readonly layer?: string;
  readonly startedOn: string;
  readonly finishedOn: string;
}

export interface ProvenanceInput {
  readonly mode: 'min' | 'max';
  readonly builderId: string;
  readonly builderVersion: string;
  /** The Dockerfile's path relative to the context (BuildKit's configSource.entryPoint / filename). */
  readonly dockerfile: string;
  readonly target?: string;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly secretIds: readonly string[];
  readonly platform: string;
  readonly git?: { readonly url: string; readonly commit: string };
  /**
   * --build-context: BuildKit's frontend attributes `context:NAME` (`docker-image://…`, `oci-layout://…`, a URL, or
   * `local:NAME` for a directory, which is also one of the locals).
   */
  readonly namedContexts?: readonly { readonly name: string; readonly value: string; readonly local: boolean }[];
  readonly materials: readonly Material[];
  readonly startedOn: Date;
  readonly finishedOn: Date;
  readonly invocationId: string;
  /** max: the Dockerfile's text and every step. */
  readonly dockerfileText?: string;
  readonly steps?: readonly StepRecord[];
}

export function provenancePredicate(p: ProvenanceInput): Record<string, unknown> {
  const args: Record<string, string> = {};
  for (const [k, v] of [...p.buildArgs].sort(([a], [b]) => (a < b ? -1 : 1))) args[`build-arg:${k}`] = v;
  if (p.target !== undefined) args['target'] = p.target;
  if (p.dockerfile !== 'Dockerfile') args['filename'] = p.dockerfile;
  for (const c of p.namedContexts ?? []) args[`context:${c.name}`] = c.local ? `local:${c.name}` : c.value;
  const materials = [...p.materials, ...(p.git !== undefined ? [{ uri: p.git.url, digest: { sha1: p.git.commit } }] : [])];
  const max = p.mode === 'max';
  return {
    builder: { id: p.builderId },
    buildType: BUILD_TYPE,
    materials,
    invocation: {
      configSource: {
        ...(p.git !== undefined ? { uri: p.git.url, digest: { sha1: p.git.commit } } : {}),
        entryPoint: p.dockerfile,
      },
      parameters: {
        frontend: 'dockerfile.v0', args,
        ...(p.secretIds.length > 0 ? { secrets: p.secretIds.map((id) => ({ id, optional: false })) } : {}),
        locals: [...(p.git !== undefined ? [] : [{ name: 'context' }, { name: 'dockerfile' }]),
          ...(p.namedContexts ?? []).filter((c) => c.local).map((c) => ({ name: c.name }))],
      },
      environment: { platform: p.platform },
    },
    ...(max && p.steps !== undefined ? { buildConfig: { steps: p.steps } } : {}),
    metadata: {
      buildInvocationID: p.invocationId,
      buildStartedOn: p.startedOn.toISOString(),
      buildFinishedOn: p.finishedOn.toISOString(),
      completeness: { parameters: max, environment: true, materials: false },
      reproducible: false,
      [`${BUILD_TYPE}#metadata`]: {
        builder: { version: p.builderVersion },
        ...(p.git !== undefined ? { vcs: { source: p.git.url, revision: p.git.commit } } : {}),
        ...(max && p.dockerfileText !== undefined ? {
          source: { infos: [{ filename: p.dockerfile, language: 'Dockerfile', data: Buffer.from(p.dockerfileText).toString('base64') }] },
        } : {}),
      },
    },
  };
}

/** A git context's URL as provenance records it: the scheme it was pulled over (GIT_PULL_METHOD), no credentials, no #ref. */
export function gitSourceUrl(spec: string, scheme: 'https' | 'http' = 'https'): string {
  const rest = spec.replace(/^git:\/\//, '').split('#')[0] ?? '';
  const url = new URL(/^[a-z]+:\/\//.test(rest) ? rest : `${scheme}://${rest}`);
  url.username = '';
  url.password = '';
  return url.toString();
}
