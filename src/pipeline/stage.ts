// Builds one stage: base image → unpack into the stage's root (when a step needs files) → run each
// instruction → a layer for every step that changed files → history → the stage's image.
import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { commandFor } from '../commands/index.ts';
import type { Command, StepContext } from '../commands/command.ts';
import { parseInstructionText } from '../dockerfile/parse.ts';
import type { Instruction } from '../dockerfile/instructions.ts';
import { BuildError, DockerfileError, isBuildError, isDiskFull } from '../errors.ts';
import type { Image } from '../oci/image.ts';
import { layerFromTarWriter } from '../oci/layer.ts';
import { appendLayers, withConfigFile, withHistory } from '../oci/mutate.ts';
import type { Layer } from '../oci/image.ts';
import { cacheKey } from '../cache/cache-key.ts';
import type { ConfigFile, History, Platform } from '../oci/types.ts';
import { extractLayer } from '../rootfs/extract.ts';
import type { OwnershipTable } from '../ownership/table.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';
import { findRunHelper } from '../sandbox/run-in-root.ts';
import { writeLayerTarTo, type LayerChanges } from '../snapshot/layer-tar.ts';
import { createSnapshotter, type Snapshotter } from '../snapshot/snapshotter.ts';
import { DEFAULT_COMPRESSION_LEVEL, type BuildOptions } from './options.ts';
import { prefetchLayer, type Prefetched } from './prefetch.ts';
import { noProgress } from '../progress/events.ts';
import { OutputTail } from '../progress/format.ts';

export const defaultPathEnv = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface StagePlan {
  readonly index: number;
  readonly name?: string;
  readonly instructions: readonly Instruction[];
  /** The file the instructions came from, for file:line errors. */
  readonly file: string;
  readonly escape: string;
  /** The stage in step lines: its name, `stage-N`, or '' when the Dockerfile has one stage (BuildKit). Default: name or `stage-N`. */
  readonly progressLabel?: string;
}

export interface StageDeps {
  readonly opts: BuildOptions;
  readonly root: string;
  readonly base: Image;
  /** The base as errors name it: an image reference, `stage NAME` or `scratch`. */
  readonly baseName?: string;
  readonly metaArgs: ReadonlyMap<string, string>;
  readonly ignore: IgnoreList;
  readonly dockerignore?: { matches(relPath: string): boolean };
  /** Whether a later stage reads this stage's files (then its base must be unpacked even without COPY/RUN). */
  readonly filesNeeded: boolean;
  /** FROM --platform of this stage (default: --custom-platform / the host's). */
  readonly platform?: Platform;
  /** Start of this stage's cache-key chain (the parent stage's last key); default: the base image's digest. */
  readonly baseKey?: string;
  /** '/' in the executor's own container: RUN then runs without chroot or namespaces. */
  readonly containerMode: boolean;
  /** Container mode, a stage in its own directory of a privileged container: RUN isolated as in --root-dir builds. */
  readonly isolateRun?: boolean;
  /** Non-root mode: this stage root's ownership table (owners and modes the filesystem cannot hold). */
  readonly owners?: OwnershipTable;
  /** Non-root mode: the table of another root (an earlier stage's, a pulled image's) for COPY --from. */
  readonly ownersOf?: (root: string) => OwnershipTable | undefined;
  /** Receives each layer this stage adds, as soon as it exists (the target stage's go to the destinations early). */
  readonly onLayer?: (layer: Layer) => void;
  resolveFrom(from: string): Promise<string>;
  /** A named build context that is a directory (--build-context): COPY --from / mount from= read it as a context. */
  readonly namedContextOf?: StepContext['namedContextOf'];
}

export interface BuiltStage {
  readonly image: Image;
  readonly root: string;
  readonly unpacked: boolean;
  /** The last key of this stage's cache chain: a stage built FROM this one continues it. */
  readonly cacheKey: string;
}

/** Resident memory now, for the debug log (bench/ reads peak RSS from outside; this says which step grew it). */
function rssMiB(): number {
  return Math.round(process.memoryUsage.rss() / 1048576);
}

function timestampOf(opts: BuildOptions): Date | undefined {
  if (opts.sourceDateEpoch !== undefined) return new Date(opts.sourceDateEpoch * 1000);
  return opts.reproducible ? new Date(0) : undefined;
}

/** Base config as a build starts from it: default PATH, --label merged, ONBUILD triggers taken out. */
function initialConfig(base: ConfigFile, opts: BuildOptions, platform: Platform): ConfigFile {
  const labels = { ...base.config.Labels };
  for (const [k, v] of opts.labels) labels[k] = v;
  const config = {
    ...base.config,
    Env: base.config.Env ?? [defaultPathEnv],
    ...(Object.keys(labels).length > 0 ? { Labels: labels } : {}),
    OnBuild: null,
  };
  return {
    ...base,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    config,
  };
}

function onbuildTriggers(base: ConfigFile, plan: StagePlan): Instruction[] {
  return (base.config.OnBuild ?? []).map((text) => parseInstructionText(text, `${plan.file} (ONBUILD of the base image)`, 1, plan.escape));
}

function replacementEnv(args: ReadonlyMap<string, string>, image: ConfigFile): Map<string, string> {
  const env = new Map(args);
  for (const kv of image.config.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return env;
}

/** An extraction failure that names the image and the layer's digest (a truncated or corrupt blob, an unsafe entry). */
async function extractionError(err: unknown, which: string, layer: Layer, image: string): Promise<BuildError> {
  const digest = await layer.digest().catch(() => 'unknown digest');
  const message = err instanceof Error ? err.message : String(err);
  const text = `extracting ${which} (${digest}) of ${image}: ${message}`;
  return isBuildError(err)
    ? new BuildError(err.code, text, { cause: err, exitCode: err.exitCode, ...(err.hint !== undefined ? { hint: err.hint } : {}) })
    : new BuildError('ARCHIVE', text, { cause: err });
}

async function unpackBase(base: Image, root: string, deps: StageDeps): Promise<void> {
  const { log } = deps.opts;
  const layers = await base.layers();
  // The next registry layer downloads into a file while this one extracts (prefetch.ts); a failed read-ahead is
  // forgotten and that layer streams from the registry as before.
  const ahead = (j: number): Promise<Prefetched | undefined> | undefined => {
    const next = layers[j];
    if (next === undefined) return undefined;
    const p = prefetchLayer(next, join(deps.opts.workDir, 'prefetch'), deps.opts.signal);
    p.catch(() => undefined);
    return p;
  };
  let pending: Promise<Prefetched | undefined> | undefined;
  for (const [i, layer] of layers.entries()) {
    deps.opts.signal.throwIfAborted();
    const fetched = i === 0 ? undefined : await pending?.catch((err: unknown) => {
      log.debug({ layer: i, reason: (err as Error).message }, 'Layer read-ahead failed; streaming it');
      return undefined;
    });
    pending = ahead(i + 1);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const started = Date.now();
          const source = attempt === 0 && fetched !== undefined ? fetched.layer : layer;
          const result = await extractLayer(root, await source.uncompressed(), { ignore: deps.ignore, log, ...(deps.owners !== undefined ? { owners: deps.owners } : {}) });
          log.debug({ layer: i, digest: await layer.digest(), readAhead: source !== layer, entries: result.entries, durationMs: Date.now() - started, rssMiB: rssMiB() }, 'Extracted layer');
          break;
        } catch (err) {
          if (attempt >= deps.opts.imageFsExtractRetry || (isBuildError(err) && err.code === 'ROOTFS')) {
            throw await extractionError(err, `layer ${i + 1}/${layers.length}`, layer, deps.baseName ?? 'the base image');
          }
          log.warn({ attempt: attempt + 1 }, `Retrying extraction of base layer ${i}: ${(err as Error).message}`);
        }
      }
    } finally {
      await fetched?.dispose();
    }
  }
}

export async function buildStage(plan: StagePlan, deps: StageDeps): Promise<BuiltStage> {
  const { opts } = deps;
  const log = opts.log.child({ stage: plan.name ?? plan.index });
  const progress = opts.progress ?? noProgress;
  const label = plan.progressLabel ?? plan.name ?? `stage-${plan.index}`;
  const fromStarted = Date.now();
  const baseConfig = await deps.base.configFile();
  const instructions = [...onbuildTriggers(baseConfig, plan), ...plan.instructions];
  // BuildKit's numbering: the FROM is step 1 of 1 + the instructions (ONBUILD triggers included).
  const total = instructions.length + 1;
  const fromStep = { stage: label, step: 1, total, instruction: fromText(deps.baseName) };
  progress({ type: 'step-started', ...fromStep });
  progress({ type: 'step-finished', ...fromStep, durationMs: Date.now() - fromStarted, cached: false });
  let stepId = fromStep;
  let stepStartedMs = Date.now();
  const commands: Command[] = instructions.map((i) => commandFor(i, deps.dockerignore === undefined ? {} : { ignore: deps.dockerignore }));
  await mkdir(deps.root, { recursive: true });
  // The base is unpacked lazily: only when a step that is not a cache hit needs files (kaniko does the same), so a
  // rebuild whose every RUN/COPY is cached never extracts anything. Cache hits before that point wait in `pending`.
  let materialized = false;
  const pending: Layer[] = [];
  let baselineStale = false;
  const applyLayer = async (layer: Layer): Promise<void> => {
    try {
      await extractLayer(deps.root, await layer.uncompressed(), { ignore: deps.ignore, log, ...(deps.owners !== undefined ? { owners: deps.owners } : {}) });
    } catch (err) {
      throw await extractionError(err, 'cached layer', layer, 'the layer cache');
    }
  };
  const materialize = async (): Promise<void> => {
    if (materialized) return;
    materialized = true;
    log.info('Unpacking rootfs as cmd requires it');
    await unpackBase(deps.base, deps.root, deps);
    for (const layer of pending.splice(0)) await applyLayer(layer);
  };
  const stamp = timestampOf(opts);
  const created = (stamp ?? new Date()).toISOString();
  let image = deps.base;
  let config = initialConfig(baseConfig, opts, deps.platform ?? opts.platform);
  let args = new Map<string, string>();
  let cmdSet = false;
  const layerDir = join(opts.workDir, 'layers');
  await mkdir(layerDir, { recursive: true });
  const hasRun = commands.some((c) => c.effects.snapshot === 'tree');
  // The last lines of the running RUN's output, for a failure whose output was not shown (--progress=tty, quiet).
  const tail = new OutputTail(10);
  const decoder = new StringDecoder('utf8');
  const runtime = {
    helperPath: hasRun ? findRunHelper(opts.runHelperCandidates) : '',
    isolate: !deps.containerMode || deps.isolateRun === true,
    output: (chunk: Buffer): void => {
      const line = tail.push(chunk.length > 0 ? decoder.write(chunk) : decoder.end());
      if (line !== undefined && opts.progress !== undefined) progress({ type: 'step-output', ...stepId, line });
      opts.runOutput(chunk, { stage: stepId.stage, step: stepId.step });
    },
    ...(opts.secrets === undefined ? {} : { secrets: opts.secrets }),
    ...(opts.ssh === undefined ? {} : { ssh: opts.ssh }),
    ...(opts.gitEnv === undefined ? {} : { gitEnv: opts.gitEnv }),
    scratchDir: opts.workDir,
    ignore: deps.ignore,
    ...(opts.cacheMountDir === undefined ? {} : { cacheMountDir: opts.cacheMountDir }),
  };
  // The snapshotter's baseline is taken lazily, right before the first step that needs a tree walk, so the
  // unpacked base and any COPY before it cost one stat walk in total. --single-snapshot takes it up front.
  let snapshotter: Snapshotter | undefined;
  const ensureBaseline = async (): Promise<Snapshotter> => {
    if (snapshotter === undefined || baselineStale) {
      baselineStale = false;
      snapshotter = createSnapshotter({ root: deps.root, ignore: deps.ignore, mode: opts.snapshotMode, log });
      const started = Date.now();
      await snapshotter.init();
      log.debug({ durationMs: Date.now() - started }, 'Snapshot baseline taken');
    }
    return snapshotter;
  };
  if (opts.singleSnapshot && commands.some((c) => c.effects.needsRootfs)) { await materialize(); await ensureBaseline(); }
  const cache = opts.layerCache;
  // The key chain: the parent's key, then what changes layer bytes, then per step its text and inputs.
  let key = cacheKey(deps.baseKey ?? await deps.base.digest(), [JSON.stringify({
    compression: opts.compression, level: opts.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL, timestamp: stamp?.toISOString() ?? null,
  })]);
  const puts: Promise<void>[] = [];
  let layers = 0;
  // History of the steps without a layer since the last layer: joined in one mutation, not one per step.
  let emptySteps: History[] = [];
  const withEmptySteps = (img: Image): Image => {
    if (emptySteps.length === 0) return img;
    const entries = emptySteps;
    emptySteps = [];
    return withHistory(img, ...entries);
  };
  const addLayer = async (changes: LayerChanges, history: History): Promise<Layer> => {
    const started = Date.now();
    // The tar streams straight into the compressor: only the compressed layer is written, never re-read to compress.
    const { layer, result: written } = await layerFromTarWriter((sink) => writeLayerTarTo(deps.root, changes, sink,
      { ignore: deps.ignore, ...(deps.owners !== undefined ? { owners: deps.owners } : {}), ...(stamp !== undefined ? { timestamp: stamp } : {}) }), {
      compression: opts.compression, workDir: layerDir, level: opts.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL,
    });
    log.debug({ entries: written.entries, digest: await layer.digest(), size: await layer.size(), durationMs: Date.now() - started, rssMiB: rssMiB() }, 'Layer snapshot');
    image = appendLayers(withEmptySteps(image), { layer, history });
    deps.onLayer?.(layer);
    layers++;
    return layer;
  };
  // A step that changed no files: an empty_layer history entry, or with --force-build-metadata (kaniko) an empty layer.
  const noLayer = async (history: History): Promise<void> => {
    if (opts.forceBuildMetadata === true) await addLayer({ added: [], deleted: [] }, history);
    else emptySteps.push({ ...history, empty_layer: true });
  };
  const isEmpty = (c: LayerChanges): boolean => c.added.length === 0 && c.deleted.length === 0 && (c.opaque ?? []).length === 0;

  let stepCommand: Command | undefined;
  try {
    for (const [n, command] of commands.entries()) {
      opts.signal.throwIfAborted(); // another stage failed: stop between steps
      stepCommand = command;
      stepId = { stage: label, step: n + 2, total, instruction: command.text };
      stepStartedMs = Date.now();
      tail.clear();
      // kaniko logs the instruction here; the step line carries it, numbered (`[stage-1 3/5] COPY app /srv/app`).
      progress({ type: 'step-started', ...stepId });
      const stepStarted = new Date().toISOString();
      const finish = async (stepCached: boolean, layer?: Layer): Promise<void> => {
        progress({ type: 'step-finished', ...stepId, durationMs: Date.now() - stepStartedMs, cached: stepCached,
          ...(layer !== undefined ? { layerSize: await layer.size() } : {}) });
      };
      const record = async (stepCached: boolean, layer?: Layer): Promise<void> => {
        await finish(stepCached, layer);
        if (opts.onStep === undefined) return;
        opts.onStep({ stage: plan.name ?? String(plan.index), line: command.line, instruction: command.text, cached: stepCached,
          ...(layer !== undefined ? { layer: await layer.digest() } : {}), startedOn: stepStarted, finishedOn: new Date().toISOString() });
      };
      const step: StepContext = {
        root: deps.root, contextDir: opts.contextDir, image: config, args, buildArgs: opts.buildArgs,
        metaArgs: deps.metaArgs, env: replacementEnv(args, config), cmdSet, escape: plan.escape, log,
        signal: opts.signal, resolveFrom: (from) => deps.resolveFrom(from), runtime,
        ...(deps.namedContextOf !== undefined ? { namedContextOf: deps.namedContextOf } : {}),
        ...(deps.owners !== undefined ? { owners: deps.owners, ownersOf: (r: string) => deps.ownersOf?.(r) } : {}),
      };
      const history: History = { created, created_by: command.text };
      const cached = cache !== undefined && command.effects.cacheable && !opts.singleSnapshot
        && (command.effects.snapshot === 'tree' ? cache.runLayers : cache.copyLayers);
      if (cache !== undefined) {
        const inputs = command.cacheInputs !== undefined ? await command.cacheInputs(step).catch((err: unknown) => { throw locate(err, plan.file, command.line); }) : [];
        key = cacheKey(key, [command.text, ...inputs]);
      }
      if (cached && cache !== undefined) {
        const hit = await cache.store.get(key);
        if (hit !== undefined) {
          // RUN/COPY/ADD leave the config alone, so a hit needs no execution: the layer joins the image as it is
          // (pushed later by cross-repo mount), and its files reach the root only if a later step needs them.
          log.info({ key }, 'Using caching version of cmd');
          await record(true, hit.layer);
          image = appendLayers(withEmptySteps(image), { layer: hit.layer, history });
          deps.onLayer?.(hit.layer);
          layers++;
          if (materialized) { await applyLayer(hit.layer); baselineStale = snapshotter !== undefined; } else pending.push(hit.layer);
          continue;
        }
        log.info({ key }, 'No cached layer found for cmd');
      }
      if (command.effects.needsRootfs) await materialize();
      if (command.effects.snapshot === 'tree' && !opts.singleSnapshot) await ensureBaseline();
      let result;
      try {
        result = await command.execute(step);
      } catch (err) {
        throw locate(err, plan.file, command.line);
      }
      config = result.image;
      if (result.args !== undefined) args = new Map(result.args);
      if (result.cmdSet === true) cmdSet = true;
      const changed = result.changed ?? [];
      const last = n === commands.length - 1;
      if (opts.singleSnapshot) {
        // One layer for the whole stage, taken after the last instruction (kaniko's --single-snapshot).
        if (last && snapshotter !== undefined) {
          const changes = await snapshotter.snapshotTree();
          if (!isEmpty(changes)) { await finish(false, await addLayer(changes, history)); continue; }
        }
        emptySteps.push({ ...history, empty_layer: true });
        await finish(false);
        continue;
      }
      let produced: Layer | undefined;
      if (command.effects.snapshot === 'files' && changed.length > 0) {
        if (snapshotter !== undefined && !baselineStale) await snapshotter.recordPaths(changed);
        produced = await addLayer({ added: changed, deleted: [] }, history);
      } else if (command.effects.snapshot === 'tree' && snapshotter !== undefined) {
        const started = Date.now();
        const changes = await snapshotter.snapshotTree();
        log.debug({ added: changes.added.length, deleted: changes.deleted.length, durationMs: Date.now() - started, rssMiB: rssMiB() }, 'Filesystem walked');
        if (isEmpty(changes)) await noLayer(history);
        else produced = await addLayer(changes, history);
      } else {
        await noLayer(history);
      }
      // Pushed to the cache while the build goes on; awaited before the stage ends (its tar files live in workDir).
      if (cached && cache !== undefined && produced !== undefined) puts.push(cache.store.put(key, produced, history));
      await record(false, produced);
    }
  } catch (err) {
    // A step cancelled because another stage failed is not this stage's failure: no line for it.
    if (stepCommand !== undefined && !opts.signal.aborted) {
      const cause = isBuildError(err) && err.cause instanceof Error && err.location !== undefined ? err.cause : err;
      progress({ type: 'step-failed', ...stepId, durationMs: Date.now() - stepStartedMs, reason: cause instanceof Error ? cause.message : String(cause),
        outputTail: stepCommand.effects.snapshot === 'tree' ? tail.lines() : [] });
    }
    throw stepCommand === undefined ? err : await diskFullAt(err, stepCommand, plan.file, { root: deps.root, workDir: layerDir });
  }
  // Later stages read this stage's files (COPY --from): they must be in its root even if every step was a hit.
  if (deps.filesNeeded) await materialize();
  await Promise.all(puts);
  log.debug({ layers }, 'Stage built');
  image = withEmptySteps(image);
  const current = await image.configFile();
  const final: ConfigFile = { ...config, rootfs: current.rootfs, ...(current.history !== undefined ? { history: current.history } : {}), created };
  return { image: withConfigFile(image, final), root: deps.root, unpacked: materialized, cacheKey: key };
}

/**
 * A full disk during a step (its command, the unpacking before it, its snapshot or layer write) as one line naming
 * the step and the disk: `Dockerfile:N: RUN …: no space left on device (…)`. A RUN that failed while the build root's
 * disk is full is taken as that too: the command's own message ("No space left on device") went to its output only.
 */
async function diskFullAt(err: unknown, command: Command, file: string, dirs: { root: string; workDir: string }): Promise<unknown> {
  const runFailed = isBuildError(err) && err.code === 'RUN_FAILED';
  if (!isDiskFull(err) && !runFailed) return err;
  const full = async (dir: string): Promise<boolean> => {
    try {
      const s = await statfs(dir);
      return s.bavail * s.bsize < 64 * 1024 || (s.files > 0 && s.ffree === 0);
    } catch { return false; }
  };
  const rootFull = await full(dirs.root);
  const workFull = !rootFull && await full(dirs.workDir);
  if (runFailed && !rootFull) return err;
  const where = rootFull ? `the disk of --root-dir ${dirs.root} is full`
    : workFull ? `the disk of the work directory ${dirs.workDir} (TMPDIR) is full` : 'writing the build root or a layer';
  const exitCode = isBuildError(err) ? err.exitCode : 1;
  return new BuildError('BUILD', `${file}:${command.line}: ${command.text}: no space left on device (${where})`, { cause: err, exitCode });
}

/** The FROM step's text from the base's name (`image alpine:3.20`, `stage build`, `scratch`). */
function fromText(baseName: string | undefined): string {
  if (baseName === undefined) return 'FROM';
  return `FROM ${baseName.replace(/^(image|stage) /u, '')}`;
}

function locate(err: unknown, file: string, line: number): unknown {
  if (err instanceof DockerfileError) return err;
  if (isBuildError(err)) {
    return new BuildError(err.code, `${file}:${line}: ${err.message}`, { cause: err, exitCode: err.exitCode, location: { file, line }, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
  }
  return new BuildError('BUILD', `${file}:${line}: ${(err as Error).message}`, { cause: err, location: { file, line } });
}
