// `executor`: kaniko's command line. Parse flags, pick the build root, fetch the context, build, publish.
import { StringDecoder } from 'node:string_decoder';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, checkEmulation } from '../pipeline/build.ts';
import { checkRootWritable, chooseBuildRoot, chooseRootMode, hostSignals } from '../pipeline/build-root.ts';
import type { BuildOptions, RunOutputSource } from '../pipeline/options.ts';
import { localContextDirs, namedContexts, parseBuildContexts } from '../pipeline/named-contexts.ts';
import { failOnWarnings, lintBuild, logWarnings } from '../pipeline/lint.ts';
import { violationMessage } from '../checks/config.ts';
import { formatCheckReport, formatCheckReportJson } from './check-report.ts';
import { attestationFor, dockerfileName, gitHead, parseAttestFlags, provenanceStatement, sbomStatement } from '../pipeline/attest.ts';
import type { Statement } from '../attestations/in-toto.ts';
import { gitSourceUrl, type Material, type StepRecord } from '../attestations/provenance.ts';
import { randomUUID } from 'node:crypto';
import { checkDestinations, earlyLayerUploads, platformIndex, publish, publishIndex } from '../pipeline/publish.ts';
import { annotationsFor, parseAnnotation } from '../oci/annotations.ts';
import { withManifestAnnotations } from '../oci/mutate.ts';
import { defaultIgnoreEntries, readMountPoints } from '../rootfs/ignore-list.ts';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.ts';
import type { Image } from '../oci/image.ts';
import { mkdir, readdir } from 'node:fs/promises';
import { enterContextSubPath, pickContextSource } from '../context/pick.ts';
import { fetchDockerfile, isRemoteDockerfile } from '../context/remote-dockerfile.ts';
import { RegistryClient } from '../registry/client.ts';
import { defaultCacheRepo, ociLayerCache, parseCacheRepo, registryLayerCache, type LayerCache } from '../cache/layer-cache.ts';
import { layerMemo } from '../cache/memo-layer-cache.ts';
import type { OutputOptions } from '../pipeline/options.ts';
import type { RemoteOptions } from '../registry/remote.ts';
import type { Log } from '../log.ts';
import type { Descriptor, Platform } from '../oci/types.ts';
import { BuildError, UsageError } from '../errors.ts';
import { executorFlags } from './flags.ts';
import { indexMain } from './index-command.ts';
import {
  FlagReader, outputOptions, parseBuildArgs, parseLabels, parseSecrets, parseSsh, platformsFrom, registryMap, registryOptions, resolveDockerfilePath,
  parseGitOptions,
} from './executor-options.ts';
import { parseDuration } from './parse-flags.ts';
import { startCommandLine } from './command-line.ts';
import { exitWith, type CliIo } from './run-cli.ts';

export const version = '0.1.0';

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`invalid --${flag} "${value}": use ${allowed.join(', ')}`);
  return value as T;
}

/** --cache-repo, or kaniko's default `<first destination repo>/cache`; `oci:DIR` keeps layers on disk. */
function layerCacheFrom(flags: FlagReader, out: OutputOptions,
  deps: { push: RemoteOptions; ttlMs: number; log: Log; platform: Platform }): LayerCache {
  const repoFlag = flags.string('cache-repo');
  const first = out.destinations[0];
  if (repoFlag === undefined && first === undefined) {
    throw new UsageError('--cache needs --cache-repo when there is no --destination', { hint: 'e.g. --cache-repo=registry.example.com/app/cache or --cache-repo=oci:/cache/layers' });
  }
  const repo = parseCacheRepo(repoFlag ?? defaultCacheRepo(first ?? ''));
  const common = { ttlMs: deps.ttlMs, log: deps.log, platform: deps.platform, push: !flags.bool('no-push-cache') };
  return repo.kind === 'oci' ? ociLayerCache({ ...common, dir: repo.dir }) : registryLayerCache({ ...common, repo: repo.repo, registry: deps.push });
}

export async function executorMain(io: CliIo): Promise<void> {
  if (io.argv[0] === 'version') { io.stdout(`Version: v${version}\n`); return; }
  if (io.argv[0] === 'index') { await indexMain({ ...io, argv: io.argv.slice(1) }); return; }
  const { flags, log, progress } = startCommandLine(io, 'executor', 'Build a container image from a Dockerfile, without a Docker daemon', executorFlags);

  const kanikoDir = flags.string('kaniko-dir') ?? '/kaniko';
  const rootChoice = chooseBuildRoot({ ...(flags.string('root-dir') !== undefined ? { rootDir: resolve(flags.string('root-dir') ?? '') } : {}), force: flags.bool('force') },
    { ...hostSignals, env: io.env });
  const rootless = chooseRootMode(oneOf('rootless', flags.string('rootless') ?? 'auto', ['auto', 'always', 'never'] as const),
    hostSignals.readFile('/proc/self/status'), { isolate: !rootChoice.containerMode, ...(process.geteuid !== undefined ? { euid: process.geteuid() } : {}) });
  log.info(rootless.rootless
    ? `Non-root mode (${rootless.reason}): owners and modes are kept in an ownership table; RUN runs as fake root under the ptrace supervisor${rootChoice.containerMode ? '' : ' (chroot emulated)'}`
    : `Root mode (${rootless.reason})`);
  checkRootWritable(rootless, rootChoice.containerMode);
  const platforms = platformsFrom(flags);
  const platform = platforms[0] ?? hostPlatform();
  const startedOn = new Date();
  const attest = parseAttestFlags(flags.bool('sbom'), flags.list('attest'), flags.string('provenance'));
  // BuildKit: attestations make the result an index (image manifest + attestation manifest), even for one platform.
  const asIndex = platforms.length > 1 || attest.sbom || attest.provenance !== undefined;
  const multi = platforms.length > 1;
  const annotations = flags.list('annotation').map(parseAnnotation);
  if (!multi && annotations.some((a) => a.target !== 'manifest')) {
    // BuildKit: "index annotations not supported for single platform export".
    throw new UsageError('--annotation: index:, index-descriptor: and manifest-descriptor: need an image index (several --platform values)');
  }
  const indexDescriptor = annotationsFor(annotations, 'index-descriptor');
  const out = { ...outputOptions(flags), ...(Object.keys(indexDescriptor).length > 0 ? { ociLayoutAnnotations: indexDescriptor } : {}) };
  // buildx: index-descriptor: annotates the index's entry in an OCI layout's index.json; a registry has no such entry.
  if (out.ociLayoutAnnotations !== undefined && out.ociLayoutPath === undefined) {
    throw new UsageError('--annotation index-descriptor: annotates the entry in --oci-layout-path\'s index.json; give --oci-layout-path');
  }
  const pullSettings = registryOptions(flags, 'pull', { env: io.env, log, kanikoDir, platform });
  const pushSettings = registryOptions(flags, 'push', { env: io.env, log, kanikoDir, platform });
  // One client per direction: connections, tokens and upload bookkeeping are shared by every call.
  const pull = { ...pullSettings, client: new RegistryClient({ ...pullSettings, progress: progress.sink }) };
  const push = { ...pushSettings, client: new RegistryClient({ ...pushSettings, progress: progress.sink }) };
  const sourceDateEpoch = io.env['SOURCE_DATE_EPOCH'];
  if (sourceDateEpoch !== undefined && !/^\d+$/.test(sourceDateEpoch)) throw new UsageError(`invalid SOURCE_DATE_EPOCH "${sourceDateEpoch}": expected seconds since 1970`);
  const compression = oneOf('compression', flags.string('compression') ?? 'gzip', ['gzip', 'zstd'] as const);
  const level = flags.int('compression-level', -1);

  const cacheTtlMs = parseDuration('cache-ttl', flags.string('cache-ttl') ?? '336h');
  const layerCache = flags.bool('cache') ? {
    store: layerCacheFrom(flags, out, { push, ttlMs: cacheTtlMs, log, platform }),
    runLayers: flags.bool('cache-run-layers', true),
    copyLayers: flags.bool('cache-copy-layers'),
  } : undefined;

  const buildContexts = parseBuildContexts(flags.list('build-context'), process.cwd());
  const workParent = rootChoice.containerMode ? kanikoDir : tmpdir();
  const workDir = await mkdtemp(join(workParent, 'build-')).catch((err: NodeJS.ErrnoException) => {
    throw new BuildError('BUILD', `cannot create the work directory in ${workParent}: ${err.code ?? err.message}`,
      { hint: rootChoice.containerMode ? 'give a writable --kaniko-dir' : 'set TMPDIR to a directory this user can write' });
  });
  const abort = new AbortController();
  try {
    const checkOnly = flags.bool('check');
    if (!checkOnly) await checkDestinations(out, { push, log });
    // kaniko's legacy --bucket names a GCS bucket holding context.tar.gz, used when --context names no scheme.
    const bucket = flags.string('bucket');
    const contextFlag = flags.string('context') ?? '/workspace/';
    const contextSpec = bucket !== undefined && !contextFlag.includes('://') ? `gs://${bucket}` : contextFlag;
    const sourceDeps = { env: io.env, stdin: process.stdin, git: parseGitOptions(flags.list('git')), log };
    const ssh = parseSsh(flags.list('ssh'), io.env);
    const defaultSsh = ssh.get('default'); // git@ / ssh:// named contexts clone through it, as ADD does
    const source = pickContextSource(contextSpec, sourceDeps);
    let contextDir = await source.fetch(join(workDir, 'context'), abort.signal);
    const fetchedDir = contextDir;
    const sub = flags.string('context-sub-path');
    if (sub !== undefined) contextDir = await enterContextSubPath(contextDir, sub);
    const dockerfileSpec = flags.string('dockerfile') ?? 'Dockerfile';
    const dockerfilePath = isRemoteDockerfile(dockerfileSpec)
      ? await fetchDockerfile(dockerfileSpec, join(workDir, 'remote', 'Dockerfile'), { log, signal: abort.signal })
      : resolveDockerfilePath(dockerfileSpec, contextDir);
    const target = flags.string('target');
    // The target stage's layers start for the destinations as soon as each exists: the push overlaps the build.
    const earlyUploads = earlyLayerUploads(out, { push, log });
    const opts: BuildOptions = {
      contextDir, dockerfilePath,
      buildArgs: parseBuildArgs(flags.list('build-arg'), io.env),
      labels: parseLabels(flags.list('label')),
      secrets: parseSecrets(flags.list('secret')),
      cacheMountDir: resolve(flags.string('cache-mount-dir') ?? join(kanikoDir, 'cache-mounts')),
      ssh,
      ...(buildContexts.size > 0 ? { namedContexts: namedContexts(buildContexts, { fetchDir: join(workDir, 'named-contexts'), source: sourceDeps, ...(defaultSsh !== undefined ? { ssh: defaultSsh } : {}) }) } : {}),
      gitEnv: Object.fromEntries(['GIT_TOKEN', 'GIT_USERNAME', 'GIT_PASSWORD', 'GIT_SSH_COMMAND'].map((k) => [k, io.env[k]])),
      ...(target !== undefined ? { target } : {}),
      platform, rootDir: rootChoice.rootDir, workDir, kanikoDir, ...(rootless.rootless ? { rootless: rootless.reason } : {}),
      ignorePaths: flags.list('ignore-path'), ignoreVarRun: flags.bool('ignore-var-run', true),
      snapshotMode: oneOf('snapshot-mode', flags.string('snapshot-mode') ?? 'full', ['full', 'redo', 'time'] as const),
      singleSnapshot: flags.bool('single-snapshot'), forceBuildMetadata: flags.bool('force-build-metadata'), reproducible: flags.bool('reproducible'),
      ...(sourceDateEpoch !== undefined ? { sourceDateEpoch: Number(sourceDateEpoch) } : {}),
      cleanup: flags.bool('cleanup'), skipUnusedStages: flags.bool('skip-unused-stages'),
      ...maxParallelStages(flags.int('max-parallel-stages', 0)),
      compression, ...(level > 0 ? { compressionLevel: level } : {}),
      imageFsExtractRetry: flags.int('image-fs-extract-retry'),
      pull, registryMap: registryMap(flags), skipDefaultRegistryFallback: flags.bool('skip-default-registry-fallback'),
      cache: flags.bool('cache'), cacheDir: resolve(flags.string('cache-dir') ?? '/cache'), cacheTtlMs,
      ...(layerCache !== undefined ? { layerCache } : {}),
      runHelperCandidates: [join(kanikoDir, 'run-in-root'), join(import.meta.dirname, '..', '..', '.tools', 'bin', 'run-in-root')],
      // --progress=tty and quiet do not stream RUN output: a failed RUN shows its last lines instead.
      runOutput: progress.outputShown ? runOutputWriter(io, flags.string('log-format') === 'json') : () => undefined,
      ...(flags.string('log-format') === 'json' ? { runOutputLabelled: true } : {}),
      progress: progress.sink,
      ...(earlyUploads !== undefined ? { onTargetLayer: earlyUploads } : {}),
      log, signal: abort.signal,
    };
    // BuildKit's build checks: `--check` reports them and stops; every build logs them (check=error=true fails it here).
    const checkOptions = opts.buildArgs.get('BUILDKIT_DOCKERFILE_CHECK') ?? io.env['BUILDKIT_DOCKERFILE_CHECK'];
    const checkSkip = flags.string('check-skip');
    // `--check` without --target looks at every stage, as `docker build --check`.
    const lint = await lintBuild(opts, { allStages: checkOnly && target === undefined, ...(checkOptions !== undefined ? { checkOptions } : {}), ...(checkSkip !== undefined ? { skip: checkSkip } : {}) });
    if (checkOnly) {
      io.stdout(flags.string('log-format') === 'json' ? formatCheckReportJson(lint) : formatCheckReport(lint));
      if (lint.warnings.length > 0) throw new BuildError('DOCKERFILE', violationMessage(lint.warnings.map((w) => w.rule)));
      return;
    }
    logWarnings(lint, log);
    failOnWarnings(lint);
    const mountInfo = rootChoice.containerMode ? await readFile('/proc/self/mountinfo', 'utf8').catch(() => '') : '';
    const host = hostPlatform();
    await checkEmulation(opts, platforms, host);
    const forPlatform = (p: Platform): Record<string, string> => annotationsFor(annotations, 'manifest', (want) => platformMatches(p, want));
    let digest;
    let root = opts.rootDir;
    const built: Image[] = [];
    const attestations: { image: Image; descriptor: Descriptor }[] = [];
    // Per platform: the images pulled (materials) and, for --provenance=mode=max, every step.
    let materials: Material[] = [];
    let steps: StepRecord[] = [];
    const contextGit = contextSpec.startsWith('git://') ? await gitHead(fetchedDir) : undefined;
    const attestFor = async (image: Image, built: { root: string; unpacked: boolean }, p: Platform, scratch: string): Promise<void> => {
      const statements: Statement[] = [];
      if (attest.sbom) {
        statements.push(await sbomStatement(image, built.root, built.unpacked, {
          destinations: out.destinations, platform: p, scratchDir: scratch, tool: `kaniko-ts-${version}`, log,
          // Container mode: '/' also holds the executor, mounts, the context and the work directory — none of them image content.
          skip: rootChoice.containerMode ? [workDir, contextDir, ...localContextDirs(opts.namedContexts), ...defaultIgnoreEntries({ kanikoDir, ignoreVarRun: opts.ignoreVarRun, extraPaths: opts.ignorePaths,
            mountPoints: readMountPoints(mountInfo) }).map((e) => e.path)] : [],
        }));
      }
      if (attest.provenance !== undefined) {
        const max = attest.provenance === 'max';
        statements.push(await provenanceStatement(image, out.destinations, p, {
          mode: attest.provenance, builderId: 'https://github.com/kaniko-ts/executor', builderVersion: version,
          dockerfile: dockerfileName(contextDir, dockerfilePath), ...(target !== undefined ? { target } : {}),
          buildArgs: opts.buildArgs, secretIds: [...(opts.secrets?.keys() ?? [])], platform: formatPlatform(p),
          namedContexts: [...buildContexts.values()].map((c) => ({ name: c.name, value: c.shown, local: c.source.kind === 'dir' && c.source.local })),
          ...(contextGit !== undefined ? { git: { url: gitSourceUrl(contextSpec, io.env['GIT_PULL_METHOD'] === 'http' ? 'http' : 'https'), commit: contextGit } } : {}),
          materials, startedOn, finishedOn: new Date(), invocationId: randomUUID(),
          ...(max ? { dockerfileText: await readFile(dockerfilePath, 'utf8'), steps } : {}),
        }));
      }
      if (statements.length > 0) attestations.push(await attestationFor(image, statements));
    };
    const tracking = (p: Platform): Pick<BuildOptions, 'onStep' | 'onPulled'> => {
      materials = [];
      steps = [];
      if (attest.provenance === undefined) return {};
      const seen = new Set<string>();
      return {
        onStep: (st) => { steps.push(st); },
        onPulled: (ref, pp, d) => {
          const uri = `pkg:docker/${ref.includes('@') ? ref : ref.replace(/:([^/:@]+)$/, '@$1')}?platform=${encodeURIComponent(formatPlatform(pp ?? p))}`;
          if (!seen.has(uri)) { seen.add(uri); materials.push({ uri, digest: { sha256: d.slice('sha256:'.length) } }); }
        },
      };
    };
    if (!asIndex) {
      const result = await build({ ...opts, buildPlatform: host }, rootChoice.containerMode, mountInfo);
      root = result.root;
      built.push(result.image);
      digest = await publish(withManifestAnnotations(result.image, forPlatform(platform)), out, { push, log });
    } else {
      const entries: { platform: Platform; image: Image; annotations?: Record<string, string> }[] = [];
      const list = platforms.length > 0 ? platforms : [platform];
      const shared = layerMemo();
      for (const [i, p] of list.entries()) {
        log.info(`Building for platform ${formatPlatform(p)} (${i + 1} of ${list.length})`);
        const pWork = join(workDir, `platform-${i}`);
        await mkdir(pWork, { recursive: true });
        // Each platform starts from an empty root; the images already built keep their layers under the work directory.
        if (i > 0 && !rootChoice.containerMode) {
          for (const e of await readdir(opts.rootDir)) await rm(join(opts.rootDir, e), { recursive: true, force: true });
        }
        // Work shared between platforms: a step whose cache key repeats takes the layer an earlier platform made.
        const pCache = flags.bool('cache') ? {
          store: shared.cache(layerCacheFrom(flags, out, { push, ttlMs: cacheTtlMs, log, platform: p })),
          runLayers: flags.bool('cache-run-layers', true), copyLayers: flags.bool('cache-copy-layers'),
        } : list.length > 1 ? { store: shared.cache(), runLayers: true, copyLayers: true } : undefined;
        const result = await build({
          ...opts, ...tracking(p), platform: p, buildPlatform: host, workDir: pWork, ...(list.length > 1 ? { progressPlatform: formatPlatform(p) } : {}), ...(pCache !== undefined ? { layerCache: pCache } : {}),
          // Container mode: '/' is reset after every platform but the last, so the next one starts clean.
          cleanup: rootChoice.containerMode && i < list.length - 1 ? true : opts.cleanup,
        }, rootChoice.containerMode, mountInfo);
        root = result.root;
        built.push(result.image);
        await attestFor(withManifestAnnotations(result.image, forPlatform(p)), result, p, pWork);
        const descriptorAnnotations = annotationsFor(annotations, 'manifest-descriptor', (want) => platformMatches(p, want));
        entries.push({ platform: p, image: withManifestAnnotations(result.image, forPlatform(p)),
          ...(Object.keys(descriptorAnnotations).length > 0 ? { annotations: descriptorAnnotations } : {}) });
      }
      if (shared.hits() > 0) log.info(`${shared.hits()} step(s) took the layer an earlier platform made (same inputs)`);
      const idx = platformIndex(entries, { annotations: annotationsFor(annotations, 'index'), extra: attestations });
      digest = await publishIndex(idx, out, { push, log });
    }
    log.info({ digest }, `Built image with digest ${digest}`);
    progress.sink({
      type: 'build-finished', digest, size: await compressedSize(built),
      pushed: out.noPush ? [] : out.destinations, written: [out.tarPath, out.ociLayoutPath].filter((p): p is string => p !== undefined),
    });
    // buildx -q prints the image id on stdout; ours is the digest (of the index for several platforms).
    if (progress.mode === 'quiet') io.stdout(`${digest}\n`);
    if (opts.cleanup && !rootChoice.containerMode) await rm(root, { recursive: true, force: true });
  } finally {
    progress.stop();
    abort.abort();
    await Promise.allSettled([pull.client.close(), push.client.close()]);
    await rm(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) await exitWith(executorMain);

/** Compressed size of what was built: every platform image's config and layers. */
async function compressedSize(images: readonly Image[]): Promise<number> {
  let total = 0;
  for (const image of images) {
    const m = await image.manifest();
    total += m.config.size + m.layers.reduce((n, l) => n + l.size, 0);
  }
  return total;
}

/** --max-parallel-stages: unset (0) leaves the default to the pipeline; a negative bound is a usage error. */
function maxParallelStages(n: number): { maxParallelStages?: number } {
  if (n < 0) throw new UsageError(`invalid value "${n}" for --max-parallel-stages: expected a positive integer`);
  return n === 0 ? {} : { maxParallelStages: n };
}

/**
 * RUN output to stdout; under --log-format=json each line becomes `{"level":"info","stream":"run","stage":…,"step":N,"msg":…}`. A partial
 * line waits for its newline, or for the empty chunk that ends a RUN's output; UTF-8 split across chunks is rejoined.
 */
function runOutputWriter(io: CliIo, json: boolean): (chunk: Buffer, from?: RunOutputSource) => void {
  const decoder = new StringDecoder('utf8');
  if (!json) return (chunk) => { if (chunk.length > 0) io.stdout(decoder.write(chunk)); else { const rest = decoder.end(); if (rest !== '') io.stdout(rest); } };
  let pending = '';
  return (chunk, from) => {
    const ended = chunk.length === 0;
    const lines = (pending + (ended ? decoder.end() : decoder.write(chunk))).split('\n');
    pending = lines.pop() ?? '';
    if (ended ? pending !== '' : pending.length > 65536) { lines.push(pending); pending = ''; }
    const step = from === undefined ? {} : { ...(from.stage !== '' ? { stage: from.stage } : {}), step: from.step };
    for (const msg of lines) io.stdout(JSON.stringify({ level: 'info', stream: 'run', ...step, msg }) + '\n');
  };
}
