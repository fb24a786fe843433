// The whole build: Dockerfile → resolved stages → the stage graph (src/scheduler) → each stage built in its own
// root, independent stages at once (--max-parallel-stages) → the target's image.
// In --root-dir mode every stage has its own directory; the target stage builds in the root itself.
// In container mode the target builds in '/'; a non-target stage in its own directory under the work directory,
// its RUNs chrooted there without namespaces (what an unprivileged pod allows). Only where chroot(2) is refused do
// stages that RUN take '/', one at a time, before the target, '/' reset after each. COPY --from=<stage> of a stage
// built in '/' reads its image extracted into the work directory (container-stages.ts); FROM <stage> unpacks that
// image into the new stage's root.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { readDockerfileText } from '../context/context-file.ts';
import { loadDockerignore } from '../context/dockerignore.ts';
import { parseDockerfile } from '../dockerfile/parse.ts';
import { resolveStages, type ResolvedStage } from '../dockerfile/stages.ts';
import { BuildError, isBuildError, UsageError } from '../errors.ts';
import { emptyImage } from '../oci/empty.ts';
import { formatPlatform, parsePlatformSpec } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import type { Image } from '../oci/image.ts';
import { parseReference } from '../registry/reference.ts';
import { remoteImageWithMirrors } from '../registry/remote.ts';
import { cacheKeyFor, cachedBaseImage } from '../cache/base-image-cache.ts';
import { createIgnoreList, defaultIgnoreEntries, readMountPoints } from '../rootfs/ignore-list.ts';
import { extractLayer } from '../rootfs/extract.ts';
import { OwnershipTable } from '../ownership/table.ts';
import { resetRoot, stageFilesystems } from './container-stages.ts';
import { DEFAULT_COMPRESSION_LEVEL, type BuildOptions } from './options.ts';
import { buildStage, type BuiltStage } from './stage.ts';
import { stageFacts, type StageFacts } from './stage-graph.ts';
import { contextResolver, findNamedContext, localContextDirs } from './named-contexts.ts';
import { mayOverlap, neededStages, stageGraph } from '../scheduler/graph.ts';
import { runGraph, type StageTaskContext } from '../scheduler/run-graph.ts';
import { createLock, prefixLines } from '../scheduler/exclusive.ts';
import { findRunHelper, probeChroot } from '../sandbox/run-in-root.ts';

export interface BuildResult {
  readonly image: Image;
  /** Directory holding the target stage's filesystem. */
  readonly root: string;
  /** Whether that directory holds the image's files (false: every step was a cache hit or needed no files). */
  readonly unpacked: boolean;
}

function baseNameOf(base: ResolvedStage['base'], stages: readonly ResolvedStage[]): string {
  if (base.kind === 'scratch') return 'scratch';
  if (base.kind === 'image') return `image ${base.ref}`;
  const from = stages.find((s) => s.index === base.index);
  return `stage ${from?.name ?? base.index}`;
}

async function ensureEmptyRoot(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  const entries = await readdir(root);
  if (entries.length > 0) {
    throw new UsageError(`--root-dir ${root} is not empty`, { hint: 'remove its contents or choose an empty directory' });
  }
}

export async function build(opts: BuildOptions, containerMode: boolean, mountInfo: string): Promise<BuildResult> {
  const { log } = opts;
  const text = await readDockerfileText(opts.dockerfilePath);
  const parsed = parseDockerfile(text, opts.dockerfilePath);
  // --build-context: a stage named like a named context is replaced by it (BuildKit): none of its instructions run.
  const replaced = new Set(parsed.stages.filter((s) => s.name !== undefined && findNamedContext(opts.namedContexts, s.name) !== undefined).map((s) => s.index));
  const dockerfile = replaced.size === 0 ? parsed : { ...parsed, stages: parsed.stages.map((s) => (replaced.has(s.index) ? { ...s, base: 'scratch', instructions: [] } : s)) };
  const resolved = resolveStages(dockerfile, {
    buildArgs: opts.buildArgs, platform: opts.platform, ...(opts.buildPlatform !== undefined ? { buildPlatform: opts.buildPlatform } : {}),
    ...(opts.target !== undefined ? { target: opts.target } : {}),
  });
  const stages = resolved.stages;
  const dockerignore = await loadDockerignore(opts.contextDir, opts.dockerfilePath);
  // Container mode: RUN cache-mount contents (--cache-mount-dir) are never image content, nor reset between stages.
  // Container mode: so are local named build contexts (kept by the reset, left out of every layer).
  const cacheMountPaths = containerMode ? [...(opts.cacheMountDir !== undefined ? [opts.cacheMountDir] : []), ...localContextDirs(opts.namedContexts)] : [];
  const ignoreEntries = defaultIgnoreEntries({
    ...(containerMode ? { kanikoDir: opts.kanikoDir } : {}), ignoreVarRun: opts.ignoreVarRun, extraPaths: [...opts.ignorePaths, ...cacheMountPaths],
    mountPoints: containerMode ? readMountPoints(mountInfo) : [],
  });
  const ignore = createIgnoreList(ignoreEntries);
  // Container mode: '/' between stages keeps only the machinery's paths, the build context (a later stage
  // may COPY from it; /workspace is not always a mount) and the base-image cache.
  const reset = async (): Promise<void> => {
    await resetRoot({
      root: opts.rootDir, ignore, ignoredPaths: ignoreEntries.map((e) => e.path),
      keep: [opts.contextDir, opts.workDir, ...(opts.cache ? [opts.cacheDir] : []), ...cacheMountPaths], log,
    });
  };
  const stageFs = stageFilesystems(join(opts.workDir, 'stage-files'), log, (dir) => freshTable(dir));
  if (!containerMode) await ensureEmptyRoot(opts.rootDir);

  const pulledRoots = new Map<string, Promise<string>>();
  const mirrors = { map: opts.registryMap, skipDefaultFallback: opts.skipDefaultRegistryFallback };
  const pull = async (ref: string, platform: Platform = opts.platform): Promise<Image> => {
    const image = await pullImage(ref, platform);
    if (opts.onPulled !== undefined) opts.onPulled(ref, platform, await image.digest());
    return image;
  };
  const pullImage = async (ref: string, platform: Platform): Promise<Image> => {
    if (opts.cache) {
      // The warmer's cache first; the registry is asked only for the tag → digest (and not at all when it is down).
      const cached = await cachedBaseImage(ref, {
        cacheDir: opts.cacheDir, ttl: opts.cacheTtlMs, platform, log,
        resolve: (r) => cacheKeyFor(r, { registry: { ...opts.pull, platform, retries: 0 }, mirrors }),
      });
      if (cached !== undefined) {
        log.info(`Found ${ref} in the cache directory ${opts.cacheDir}`);
        return cached;
      }
    }
    log.info(`Retrieving image manifest ${ref}`);
    return remoteImageWithMirrors(parseReference(ref), mirrors, { ...opts.pull, platform });
  };
  const target = stages[stages.length - 1];
  if (target === undefined) throw new BuildError('DOCKERFILE', `${opts.dockerfilePath}: no build stage`);
  // COPY --from=<name|index>: names compare case-insensitively, as Docker's.
  const stageByName = new Map<string, number>();
  for (const s of stages) {
    stageByName.set(String(s.index), s.index);
    if (s.name !== undefined) stageByName.set(s.name.toLowerCase(), s.index);
  }

  // Base images are asked for as soon as the stages are known, all at once, not when their stage starts; their
  // configs carry the ONBUILD triggers the graph needs. A bad or unreachable base names its FROM line.
  const bases = new Map<number, Promise<Image>>();
  const named = opts.namedContexts === undefined ? undefined : contextResolver(opts.namedContexts, {
    pull, platform: opts.platform, workDir: join(opts.workDir, 'named-contexts'), compression: opts.compression,
    level: opts.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL, log, signal: opts.signal, tableFor: (dir) => freshTable(dir),
    ...(opts.sourceDateEpoch !== undefined ? { timestamp: new Date(opts.sourceDateEpoch * 1000) } : opts.reproducible ? { timestamp: new Date(0) } : {}),
  });
  const baseOf = (stage: ResolvedStage): Promise<Image> | undefined => {
    const context = named?.forStage(stage);
    if (stage.base.kind !== 'image' && context === undefined) return undefined;
    let pending = bases.get(stage.index);
    if (pending === undefined) {
      const ref = context !== undefined ? `${context.name} (--build-context ${context.name}=${context.shown})` : stage.base.kind === 'image' ? stage.base.ref : '';
      const platform = stage.platform === undefined ? opts.platform : parsePlatformSpec(stage.platform);
      pending = (context !== undefined && named !== undefined ? named.image(context, platform) : pull(ref, platform)).then(async (image) => { await image.configFile(); return image; }).catch((err: unknown) => {
        if (!isBuildError(err)) throw err;
        throw new BuildError(err.code, `${opts.dockerfilePath}:${stage.line}: FROM ${ref}: ${err.message}`, { cause: err, exitCode: err.exitCode, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
      });
      pending.catch(() => undefined);
      bases.set(stage.index, pending);
    }
    return pending;
  };
  // The stages to build: all (kaniko), or with --skip-unused-stages those the target needs, ONBUILD edges included.
  const facts = new Map<number, StageFacts>();
  const factsOf = async (stage: ResolvedStage): Promise<StageFacts> => {
    let f = facts.get(stage.index);
    if (f === undefined) {
      const base = baseOf(stage);
      const triggers = base === undefined ? undefined : (await (await base).configFile()).config.OnBuild ?? [];
      f = stageFacts(stage, stages, { ...(triggers !== undefined ? { triggers } : {}), file: opts.dockerfilePath, escape: dockerfile.escape, stageByName });
      facts.set(stage.index, f);
    }
    return f;
  };
  let wanted = new Set(stages.filter((s) => !opts.skipUnusedStages || s.needed).map((s) => s.index));
  wanted.add(target.index);
  for (const s of stages) if (wanted.has(s.index)) baseOf(s);
  for (;;) {
    // In Dockerfile order: the first bad base reported is the first a sequential build would meet.
    for (const s of stages) if (wanted.has(s.index)) await factsOf(s);
    if (!opts.skipUnusedStages) break;
    const closure = neededStages([...facts.values()].map((f) => f.node), target.index);
    if ([...closure].every((i) => wanted.has(i))) { wanted = closure; break; }
    wanted = new Set([...wanted, ...closure]);
  }
  for (const s of stages) if (!wanted.has(s.index)) log.info(`Skipping unused stage ${s.name ?? s.index}`);
  // Non-root mode: each stage root's owners and modes (a stage's own table; pulled COPY --from images have theirs).
  const owners = new Map<string, OwnershipTable>();
  const freshTable = (dir: string): OwnershipTable | undefined => {
    if (opts.rootless === undefined) return undefined;
    const table = new OwnershipTable();
    owners.set(dir, table);
    return table;
  };
  const copiedFrom = new Set([...facts.values()].flatMap((f) => f.copiesFrom));
  // Container mode: '/' is the target's; a non-target stage builds in its own directory under the work directory
  // (inside --kaniko-dir) and RUNs chrooted there. Where chroot(2) is refused, a stage that RUNs takes '/' as
  // before, one such stage at a time, '/' reset after it, all of them before the target.
  const runsApart = containerMode && [...wanted].some((i) => i !== target.index && facts.get(i)?.runs === true);
  const apart = !runsApart ? 'chroot' : opts.rootless !== undefined ? emulatedApart(opts) : await runApart(opts);
  const chrootRefused = apart === 'refused';
  const inRoot = (index: number): boolean => index === target.index || (chrootRefused && facts.get(index)?.runs === true);
  const nodes = [...facts.values()].filter((f) => wanted.has(f.node.index)).map((f) => f.node.index !== target.index || !containerMode ? f.node
    : { index: f.node.index, deps: [...new Set([...f.node.deps, ...[...wanted].filter((i) => i !== target.index && inRoot(i))])] });
  const graph = stageGraph(nodes, wanted);
  const limit = opts.maxParallelStages ?? Math.max(2, availableParallelism());
  // RUN output of stages that may run at once carries the stage, line by line; a chain of stages prints as kaniko.
  const overlap = limit > 1 && mayOverlap(graph);
  const rootLock = createLock();

  const buildOne = async (stage: ResolvedStage, ctx: StageTaskContext<BuiltStage>): Promise<BuiltStage> => {
    const isTarget = stage.index === target.index;
    const shared = containerMode && inRoot(stage.index);
    const root = isTarget || shared ? opts.rootDir : join(opts.workDir, 'stages', String(stage.index));
    const label = stage.name ?? String(stage.index);
    // FROM --platform picks the base's manifest and the stage image's os/architecture (Docker).
    const platform = stage.platform === undefined ? opts.platform : parsePlatformSpec(stage.platform);
    let base: Image;
    let baseKey: string | undefined;
    switch (stage.base.kind) {
      case 'scratch': base = emptyImage(platform); baseKey = `scratch ${formatPlatform(platform)}`; break;
      case 'stage': {
        const from = await ctx.result(stage.base.index);
        base = from.image;
        baseKey = from.cacheKey;
        break;
      }
      case 'image': base = await (baseOf(stage) ?? Promise.reject(new Error('no base'))); break;
    }
    // --build-context: a named context standing for the FROM; a stage replaced by one is that context, nothing runs (BuildKit).
    const context = named?.forStage(stage);
    if (context !== undefined) base = await (baseOf(stage) ?? Promise.reject(new Error('no base')));
    if (replaced.has(stage.index)) return { image: base, root, unpacked: false, cacheKey: `named context ${await base.digest()}` };
    // COPY --from and RUN --mount from= (bind, cache) resolve through this: named build contexts belong here.
    const resolveFrom = async (from: string): Promise<string> => {
      const namedDir = await named?.dirFor(from);
      if (namedDir !== undefined) return namedDir;
      const index = stageByName.get(from.toLowerCase());
      if (index !== undefined && index < stage.index) {
        if (!wanted.has(index)) throw new BuildError('BUILD', `COPY --from=${from}: stage ${index} has no filesystem`);
        const dep = await ctx.result(index);
        // Not unpacked (every step a cache hit, or it built in '/' that was reset since): its image is extracted once.
        return dep.unpacked && dep.root !== opts.rootDir ? dep.root : stageFs.dirFor(index, dep.image);
      }
      const image = from;
      let pending = pulledRoots.get(image);
      if (pending === undefined) {
        pending = (async () => {
          const dir = join(opts.workDir, 'images', String(pulledRoots.size));
          await mkdir(dir, { recursive: true });
          const table = freshTable(dir);
          for (const layer of await (await pull(image)).layers()) {
            await extractLayer(dir, await layer.uncompressed(), { ignore: createIgnoreList([]), log, ...(table !== undefined ? { owners: table } : {}) });
          }
          return dir;
        })();
        pulledRoots.set(image, pending);
      }
      return pending;
    };
    // Step lines and RUN output name the stage as BuildKit: its name, or stage-N ('' when the Dockerfile has one).
    // BuildKit: `[stage-1 2/3]`, none for one stage; a multi-platform build puts the platform first (`[linux/arm64 build 2/3]`).
    const progressLabel = [opts.progressPlatform ?? '', stages.length > 1 ? stage.name ?? `stage-${stage.index}` : ''].filter((x) => x !== '').join(' ');
    const stageLog = overlap ? log.child({ stage: label }) : log;
    stageLog.info(`Building stage ${label}${context !== undefined ? ` from build context ${context.name} (${context.shown})` : stage.base.kind === 'image' ? ` from ${stage.base.ref}` : ''}`);
    const stageOpts: BuildOptions = { ...opts, signal: ctx.signal, ...(overlap && opts.runOutputLabelled !== true ? { runOutput: prefixLines(`[${progressLabel}] `, opts.runOutput) } : {}) };
    const table = freshTable(root);
    const result = await buildStage(
      { index: stage.index, ...(stage.name !== undefined ? { name: stage.name } : {}), instructions: stage.stage.instructions, file: opts.dockerfilePath, escape: dockerfile.escape,
        progressLabel },
      // A stage in '/' that a later COPY --from reads is extracted from its image instead: no unpack just for it.
      { opts: stageOpts, root, base, metaArgs: resolved.metaArgs, ignore, dockerignore, filesNeeded: !shared && copiedFrom.has(stage.index), containerMode, resolveFrom,
        ...(containerMode && !isTarget && !shared && apart === 'isolate' ? { isolateRun: true } : {}),
        ...(named !== undefined ? { namedContextOf: named.namedContextOf } : {}),
        platform, ...(baseKey !== undefined ? { baseKey } : {}), baseName: context !== undefined ? `context ${context.name}` : baseNameOf(stage.base, stages),
        ...(table !== undefined ? { owners: table, ownersOf: (dir: string) => owners.get(dir) } : {}),
        ...(isTarget && opts.onTargetLayer !== undefined ? { onLayer: opts.onTargetLayer } : {}) },
    );
    if (shared && !isTarget) await reset();
    return result;
  };
  const built = await runGraph<BuiltStage>({
    nodes: graph, limit, signal: opts.signal,
    run: async (index, ctx) => {
      const stage = stages[index];
      if (stage === undefined) throw new BuildError('BUILD', `stage ${index} is not part of this build`);
      return containerMode && inRoot(index) ? rootLock.run(() => buildOne(stage, ctx)) : buildOne(stage, ctx);
    },
  });
  const final = built.get(target.index);
  if (final === undefined) throw new BuildError('BUILD', 'the target stage was not built');
  // --cleanup in container mode: the image is complete (its layers are files under the work directory).
  if (containerMode && opts.cleanup) await reset();
  return { image: final.image, root: final.root, unpacked: final.unpacked };
}

/** Non-root container mode: chroot(2) is refused, but the fake-root supervisor emulates it (path translation). */
function emulatedApart(opts: BuildOptions): 'chroot' {
  opts.log.info('Stages other than the target RUN in their own directory, under the fake-root supervisor\'s emulated chroot (non-root mode)');
  return 'chroot';
}

/**
 * Container mode, before stages that RUN are placed: whether RUN may chroot into a stage's own directory (asked
 * once, of the helper). Says in one line what such a RUN lacks (/proc; /dev nodes when mknod is refused), or why
 * those stages build in '/' instead.
 */
async function runApart(opts: BuildOptions): Promise<'isolate' | 'chroot' | 'refused'> {
  await mkdir(opts.workDir, { recursive: true });
  const probe = await probeChroot(findRunHelper(opts.runHelperCandidates), opts.workDir);
  if (probe.chroot !== undefined) {
    opts.log.info(`chroot is not permitted here (${probe.chroot}): stages that RUN build in / one at a time, before the target`);
    return 'refused';
  }
  if (probe.isolate === undefined) {
    // A privileged container (CAP_SYS_ADMIN, no seccomp veto): as --root-dir builds, with /proc, /dev and /sys.
    opts.log.info('Stages other than the target RUN isolated in their own directory (mount and pid namespaces, /proc, /dev, /sys)');
    return 'isolate';
  }
  const dev = probe.mknod === undefined ? '' : `, /dev without device nodes, /dev/null a plain file (mknod: ${probe.mknod})`;
  opts.log.info(`Stages other than the target RUN chrooted in their own directory: no /proc there (${/not permitted/i.test(probe.isolate) ? 'mounting one needs CAP_SYS_ADMIN' : `mount and pid namespaces: ${probe.isolate}`})${dev}`);
  return 'chroot';
}

/** qemu-user's name for an OCI architecture (binfmt_misc entries are named qemu-<name>). */
const QEMU_ARCH: Readonly<Record<string, string>> = {
  amd64: 'x86_64', '386': 'i386', arm64: 'aarch64', arm: 'arm', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
  mips64le: 'mips64el', loong64: 'loongarch64',
};

/** Whether this host runs binaries of `platform`: natively, or through an enabled binfmt_misc handler. */
export function canExecute(platform: Platform, host: Platform, binfmtDir = '/proc/sys/fs/binfmt_misc'): boolean {
  if (platform.architecture === host.architecture) return true;
  if (host.architecture === 'amd64' && platform.architecture === '386') return true;
  const name = QEMU_ARCH[platform.architecture];
  if (name === undefined) return false;
  for (const entry of [`qemu-${name}`, `${name}`]) {
    try {
      if (readFileSync(join(binfmtDir, entry), 'utf8').split('\n')[0]?.trim() === 'enabled') return true;
    } catch { /* no such handler */ }
  }
  return false;
}

/**
 * Before any work: every needed stage with a RUN must run on a platform this host executes. The error names the
 * stage, the platform and the fix (BuildKit's builds fail later, mid-RUN, with "exec format error").
 */
export async function checkEmulation(opts: BuildOptions, platforms: readonly Platform[], host: Platform, binfmtDir?: string): Promise<void> {
  const dockerfile = parseDockerfile(await readDockerfileText(opts.dockerfilePath), opts.dockerfilePath);
  for (const platform of platforms) {
    const resolved = resolveStages(dockerfile, {
      buildArgs: opts.buildArgs, platform, buildPlatform: host, ...(opts.target !== undefined ? { target: opts.target } : {}),
    });
    const target = resolved.stages[resolved.stages.length - 1];
    for (const stage of resolved.stages) {
      if (opts.skipUnusedStages && !stage.needed && stage !== target) continue;
      const run = stage.stage.instructions.find((i) => i.kind === 'RUN');
      if (run === undefined) continue;
      const stagePlatform = stage.platform === undefined ? platform : parsePlatformSpec(stage.platform);
      if (canExecute(stagePlatform, host, binfmtDir)) continue;
      throw new UsageError(
        `${opts.dockerfilePath}:${run.line}: stage ${stage.name ?? stage.index} runs RUN for ${formatPlatform(stagePlatform)}, which this ${formatPlatform(host)} host cannot execute`,
        { hint: `build that platform on a native ${stagePlatform.architecture} node (then \`executor index\`), or register qemu-user-static binfmt_misc handlers (docker run --privileged --rm tonistiigi/binfmt --install ${stagePlatform.architecture})` },
      );
    }
  }
}
