// Static resolution of a parsed Dockerfile's stages for one build: FROM images expanded with the global
// ARGs, references to earlier stages, COPY --from targets, --target, and the stages the target needs
// (for --skip-unused-stages). Pure; errors are DockerfileError at the offending line.
import { BuildError, DockerfileError } from '../errors.ts';
import type { PlatformSpec } from './args.ts';
import { platformArgs, resolveMetaArgs, resolveStageArg } from './args.ts';
import { expandWord } from './expand.ts';
import type { CopyInstruction, Dockerfile, Stage } from './instructions.ts';

/** What a FROM or COPY --from names. */
export type StageRef =
  | { readonly kind: 'stage'; readonly index: number }
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'scratch' };

export interface ResolvedStage {
  readonly index: number;
  /** Lower-cased stage name. */
  readonly name?: string;
  readonly line: number;
  readonly stage: Stage;
  readonly base: StageRef;
  /** Expanded --platform. */
  readonly platform?: string;
  /** COPY --from of this stage, resolved (value expanded with the stage's ARG/ENV known statically). */
  readonly copyFrom: ReadonlyMap<CopyInstruction, StageRef>;
  /** Stages this one reads directly: its base, COPY --from, RUN --mount from=. Sorted. */
  readonly dependsOn: readonly number[];
  /** Stages a RUN --mount from= of this one reads (their files must be on disk). Sorted. */
  readonly mountFrom: readonly number[];
  /** The final stage needs this one (true for the final stage itself). */
  readonly needed: boolean;
  readonly final: boolean;
}

export interface ResolveOptions {
  readonly buildArgs: ReadonlyMap<string, string>;
  /** --target; case-insensitive stage name. */
  readonly target?: string;
  /** The target platform. */
  readonly platform: PlatformSpec;
  /** The platform the build runs on; defaults to the target platform. */
  readonly buildPlatform?: PlatformSpec;
}

export interface ResolvedDockerfile {
  /** Global scope: automatic platform args and meta ARGs. */
  readonly metaArgs: Map<string, string>;
  /** Stages up to and including the target. */
  readonly stages: ResolvedStage[];
}

function wrap<T>(file: string, line: number, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BuildError && !(err instanceof DockerfileError)) throw new DockerfileError(file, line, err.message, { cause: err });
    throw err;
  }
}

/** Looks a name up among the stages before `before`; a number is a stage index. */
function findStage(stages: readonly Stage[], name: string, before: number, allowIndex: boolean): number | undefined {
  const lower = name.toLowerCase();
  // A repeated name (BuildKit's DuplicateStageName warns) means the latest stage of that name so far.
  const byName = stages.slice(0, Math.max(0, before)).findLastIndex((s) => s.name === lower);
  if (byName >= 0) return byName;
  if (allowIndex && /^\d+$/u.test(name)) {
    const idx = Number(name);
    if (idx < before) return idx;
  }
  return undefined;
}

/** The `from=` of RUN --mount values (e.g. type=cache,from=builder,target=/x). */
export function mountSources(mounts: readonly string[]): string[] {
  const out: string[] = [];
  for (const m of mounts) {
    for (const field of m.split(',')) {
      const eq = field.indexOf('=');
      if (eq > 0 && field.slice(0, eq).trim().toLowerCase() === 'from') out.push(field.slice(eq + 1).trim());
    }
  }
  return out;
}

export function resolveStages(df: Dockerfile, opts: ResolveOptions): ResolvedDockerfile {
  const automatic = platformArgs(opts.platform, opts.buildPlatform ?? opts.platform);
  const firstLine = df.metaArgs[0]?.line ?? df.stages[0]?.line ?? 1;
  const metaArgs = wrap(df.file, firstLine, () => resolveMetaArgs(df.metaArgs, opts.buildArgs, automatic, df.escape));
  const exp = { escape: df.escape };

  let last = df.stages.length - 1;
  if (opts.target !== undefined) {
    const want = opts.target.toLowerCase();
    last = df.stages.findLastIndex((s) => s.name === want);
    if (last < 0) {
      const names = df.stages.flatMap((s) => (s.name === undefined ? [] : [s.name]));
      throw new BuildError('DOCKERFILE', `target stage "${opts.target}" could not be found`, {
        hint: names.length === 0 ? 'the Dockerfile names no stages (use FROM image AS name)' : `stages: ${names.join(', ')}`,
      });
    }
  }
  const kept = df.stages.slice(0, last + 1);

  const partial = kept.map((stage) => wrap(df.file, stage.line, () => {
    const image = expandWord(stage.base, metaArgs, exp);
    if (image.trim() === '') throw new BuildError('DOCKERFILE', `base name (${stage.base}) should not be blank`);
    const stageIdx = findStage(kept, image, stage.index, false);
    const base: StageRef = stageIdx !== undefined ? { kind: 'stage', index: stageIdx }
      : image === 'scratch' ? { kind: 'scratch' } : { kind: 'image', ref: image };
    const platform = stage.platform === undefined ? undefined : expandWord(stage.platform, metaArgs, exp);
    const deps = new Set<number>();
    const mountFrom = new Set<number>();
    if (base.kind === 'stage') deps.add(base.index);
    const copyFrom = new Map<CopyInstruction, StageRef>();
    // ARG/ENV values known without running anything (the base image's ENV is not), for --from expansion.
    const env = new Map<string, string>();
    for (const instr of stage.instructions) {
      wrap(df.file, instr.line, () => {
        if (instr.kind === 'ARG') {
          for (const arg of instr.args) {
            const v = resolveStageArg(arg, { buildArgs: opts.buildArgs, metaArgs, env, escape: df.escape });
            if (v !== undefined) env.set(arg.name, v);
            else env.delete(arg.name);
          }
        } else if (instr.kind === 'ENV') {
          // Every pair sees the variables as they were before the instruction (Docker), without copying them.
          const pairs = instr.pairs.map((p) => [expandWord(p.key, env, exp), expandWord(p.value, env, exp)] as const);
          for (const [k, v] of pairs) env.set(k, v);
        } else if (instr.kind === 'COPY' && instr.from !== undefined) {
          const from = expandWord(instr.from, env, exp);
          const idx = findStage(kept, from, stage.index, true);
          if (idx === undefined && (/^\d+$/u.test(from) || df.stages.some((s) => s.name === from.toLowerCase()))) {
            throw new BuildError('DOCKERFILE', `COPY --from=${from}: a stage can only copy from a stage defined before it`);
          }
          const ref: StageRef = idx !== undefined ? { kind: 'stage', index: idx } : { kind: 'image', ref: from };
          copyFrom.set(instr, ref);
          if (idx !== undefined) deps.add(idx);
        } else if (instr.kind === 'RUN') {
          for (const src of mountSources(instr.mounts)) {
            const idx = findStage(kept, expandWord(src, env, exp), stage.index, true);
            if (idx !== undefined) { deps.add(idx); mountFrom.add(idx); }
          }
        }
      });
    }
    return {
      index: stage.index, line: stage.line, stage, base, copyFrom,
      dependsOn: [...deps].sort((a, b) => a - b),
      mountFrom: [...mountFrom].sort((a, b) => a - b),
      ...(stage.name === undefined ? {} : { name: stage.name }),
      ...(platform === undefined ? {} : { platform }),
    };
  }));

  // Walk dependencies back from the final stage.
  const needed = new Set<number>();
  const pending = [last];
  for (let i = pending.pop(); i !== undefined; i = pending.pop()) {
    if (needed.has(i)) continue;
    needed.add(i);
    pending.push(...(partial[i]?.dependsOn ?? []));
  }
  const stages = partial.map((s) => ({ ...s, needed: needed.has(s.index), final: s.index === last }));
  return { metaArgs, stages };
}
