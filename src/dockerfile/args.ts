// Build-argument semantics (Docker/BuildKit): predefined proxy args, automatic platform args,
// global (meta) ARGs before the first FROM, and how a stage-level ARG gets its value.
import { expandWord } from './expand.ts';
import type { ArgDeclaration, ArgInstruction } from './instructions.ts';

/** Usable in RUN through --build-arg without an ARG line; never written to the image. */
export const predefinedArgs: ReadonlySet<string> = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

export interface PlatformSpec {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** os/arch[/variant], as in TARGETPLATFORM. */
export function formatPlatform(p: PlatformSpec): string {
  return p.variant === undefined || p.variant === '' ? `${p.os}/${p.architecture}` : `${p.os}/${p.architecture}/${p.variant}`;
}

/** The automatic platform ARGs (global scope; a stage must re-declare `ARG TARGETOS` to see one). */
export function platformArgs(target: PlatformSpec, build: PlatformSpec): Map<string, string> {
  return new Map([
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
  ]);
}

/** The --build-arg values of predefined args (they apply to every stage without declaration). */
export function predefinedArgValues(buildArgs: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of buildArgs) if (predefinedArgs.has(k)) out.set(k, v);
  return out;
}

/**
 * The global scope: automatic args, then each meta ARG in order, its default expanded against what came
 * before, --build-arg overriding. An ARG with neither default nor --build-arg stays unset.
 */
export function resolveMetaArgs(metaArgs: readonly ArgInstruction[], buildArgs: ReadonlyMap<string, string>,
  automatic: ReadonlyMap<string, string>, escape = '\\'): Map<string, string> {
  const scope = new Map(automatic);
  for (const instr of metaArgs) {
    for (const arg of instr.args) {
      const value = buildArgs.get(arg.name)
        ?? (arg.defaultValue === undefined ? undefined : expandWord(arg.defaultValue, scope, { escape }));
      if (value !== undefined) scope.set(arg.name, value);
    }
  }
  return scope;
}

export interface StageArgContext {
  readonly buildArgs: ReadonlyMap<string, string>;
  /** The resolved global scope (resolveMetaArgs). */
  readonly metaArgs: ReadonlyMap<string, string>;
  /** What the default expands against: ARGs in scope overlaid by ENV. */
  readonly env: ReadonlyMap<string, string>;
  readonly escape?: string;
}

/**
 * Value of `ARG name[=default]` inside a stage: --build-arg, else the expanded default, else the global
 * ARG of the same name (inherited only because it is re-declared here). undefined: declared but unset.
 */
export function resolveStageArg(arg: ArgDeclaration, ctx: StageArgContext): string | undefined {
  const fromBuild = ctx.buildArgs.get(arg.name);
  if (fromBuild !== undefined) return fromBuild;
  if (arg.defaultValue !== undefined) return expandWord(arg.defaultValue, ctx.env, { escape: ctx.escape ?? '\\' });
  return ctx.metaArgs.get(arg.name);
}

/** --build-arg names no ARG declares (Docker warns: "One or more build-args were not consumed"). */
export function unusedBuildArgs(buildArgs: ReadonlyMap<string, string>, declared: Iterable<string>): string[] {
  const seen = new Set(declared);
  return [...buildArgs.keys()].filter((k) => !seen.has(k) && !predefinedArgs.has(k)).sort();
}
