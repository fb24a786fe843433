// Build checks for one build (BuildKit's linter): the Dockerfile and its .dockerignore read, the check options
// settled (BUILDKIT_DOCKERFILE_CHECK, else the `# check=` directive; --check-skip on top), the base images' ENV
// asked of the registry when an expanded word uses a variable, then src/checks. Every build logs the warnings;
// with check=error=true a warning fails the build before anything is built or pushed.
import { readDockerfileText } from '../context/context-file.ts';
import { loadDockerignore } from '../context/dockerignore.ts';
import { parseDockerfile } from '../dockerfile/parse.ts';
import { expandsVariables, expandWord } from '../dockerfile/expand.ts';
import type { Dockerfile } from '../dockerfile/instructions.ts';
import { resolveMetaArgs, platformArgs } from '../dockerfile/args.ts';
import { defaultCheckConfig, findDirective, parseCheckOptions, violationMessage, withSkipped, type CheckConfig } from '../checks/config.ts';
import { runChecks, type CheckWarning } from '../checks/lint.ts';
import { BuildError, DockerfileError, UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { parseReference } from '../registry/reference.ts';
import { remoteImageWithMirrors } from '../registry/remote.ts';
import type { BuildOptions } from './options.ts';

export interface LintSettings {
  /** BUILDKIT_DOCKERFILE_CHECK (environment or --build-arg): replaces the directive, as BuildKit. */
  readonly checkOptions?: string;
  /** --check-skip=RULES|all. */
  readonly skip?: string;
  /** Every stage, not only what the target reaches (--check). */
  readonly allStages: boolean;
  /** Time allowed for reading the base images' ENV (ms). */
  readonly baseEnvTimeoutMs?: number;
}

export interface LintResult {
  readonly warnings: readonly CheckWarning[];
  readonly config: CheckConfig;
  readonly source: string;
  readonly file: string;
  readonly escape: string;
}

function checkConfig(text: string, file: string, settings: LintSettings): CheckConfig {
  let config = defaultCheckConfig;
  if (settings.checkOptions !== undefined) {
    try { config = parseCheckOptions(settings.checkOptions); } catch (err) {
      throw new UsageError(`BUILDKIT_DOCKERFILE_CHECK: ${(err as Error).message}`);
    }
  } else {
    const directive = findDirective(text, 'check');
    if (directive !== undefined) {
      try { config = parseCheckOptions(directive.value); } catch (err) {
        throw new DockerfileError(file, directive.line, (err as Error).message);
      }
    }
  }
  return settings.skip === undefined ? config : withSkipped(config, settings.skip);
}

/** Whether any word the build expands uses a variable (only then does UndefinedVar need the base images' ENV). */
function usesVariables(df: Dockerfile): boolean {
  return df.stages.some((s) => s.instructions.some((i) => expandsVariables(i.kind) && i.kind !== 'ARG' && i.text.includes('$')))
    || df.stages.some((s) => s.instructions.some((i) => i.kind === 'ARG' && i.args.some((a) => a.defaultValue?.includes('$') === true)));
}

/** The ENV names of each registry base image, by expanded FROM reference; a failure leaves it unknown. */
async function baseImageEnvs(df: Dockerfile, opts: BuildOptions, timeoutMs: number): Promise<Map<string, readonly string[]>> {
  const out = new Map<string, readonly string[]>();
  if (!usesVariables(df)) return out;
  let globals: Map<string, string>;
  try {
    globals = resolveMetaArgs(df.metaArgs, opts.buildArgs, platformArgs(opts.platform, opts.buildPlatform ?? opts.platform), df.escape);
  } catch { return out; }
  const names = new Set(df.stages.flatMap((s) => (s.name === undefined ? [] : [s.name])));
  const refs = new Set<string>();
  for (const stage of df.stages) {
    let ref: string;
    try { ref = expandWord(stage.base, globals, { escape: df.escape }); } catch { continue; }
    if (ref === 'scratch' || names.has(ref.toLowerCase())) continue;
    refs.add(ref);
  }
  const mirrors = { map: opts.registryMap, skipDefaultFallback: opts.skipDefaultRegistryFallback };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
  await Promise.race([deadline, Promise.allSettled([...refs].map(async (ref) => {
    const image = await remoteImageWithMirrors(parseReference(ref), mirrors, { ...opts.pull, platform: opts.platform, retries: 0 });
    const env = (await image.configFile()).config.Env ?? [];
    out.set(ref, env.map((e) => e.split('=')[0] ?? e));
  }))]);
  clearTimeout(timer);
  return out;
}

/** Reads and checks the build's Dockerfile. */
export async function lintBuild(opts: BuildOptions, settings: LintSettings): Promise<LintResult> {
  const file = opts.dockerfilePath;
  const source = await readDockerfileText(file);
  const dockerfile = parseDockerfile(source, file);
  const config = checkConfig(source, file, settings);
  const dockerignore = await loadDockerignore(opts.contextDir, file);
  const envs = await baseImageEnvs(dockerfile, opts, settings.baseEnvTimeoutMs ?? 10_000);
  let warnings: CheckWarning[];
  try {
    warnings = runChecks({
      dockerfile, source, buildArgs: opts.buildArgs, platform: opts.platform, allStages: settings.allStages,
      ...(opts.buildPlatform !== undefined ? { buildPlatform: opts.buildPlatform } : {}),
      ...(opts.target !== undefined ? { target: opts.target } : {}),
      dockerignore, baseImageEnv: (ref) => envs.get(ref), config,
    });
  } catch (err) {
    // A fault of the checks must not stop a build that would work: say so and build.
    if (settings.allStages) throw err;
    opts.log.warn(`build checks skipped: ${(err as Error).message}`);
    warnings = [];
  }
  return { warnings, config, source, file, escape: dockerfile.escape };
}

/** One warning line per check: `Dockerfile:3: RuleName: message`, the rule and its documentation as fields. */
export function logWarnings(result: LintResult, log: Log): void {
  for (const w of result.warnings) {
    log.warn({ check: w.rule, line: w.line, url: w.url }, `${result.file}:${w.line}: ${w.rule}: ${w.message}`);
  }
}

/** check=error=true: BuildKit's "lint violation found for rules: …", located at the first warning. */
export function failOnWarnings(result: LintResult): void {
  const first = result.warnings[0];
  if (!result.config.error || first === undefined) return;
  throw new BuildError('DOCKERFILE', violationMessage(result.warnings.map((w) => w.rule)), { location: { file: result.file, line: first.line } });
}
