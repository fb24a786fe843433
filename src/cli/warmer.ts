// `warmer`: fills the base-image cache directory (--cache-dir) that `executor --cache` reads, with the images
// named by --image and the FROM lines of --dockerfile, a few at a time. Every image is tried; the exit status
// is non-zero when any failed, with one `error: <image>: <reason>` line per failure.
import { runLimited } from '../run-limited.ts';
import { readDockerfileText } from '../context/context-file.ts';
import { resolve } from 'node:path';
import { warmImage } from '../cache/base-image-cache.ts';
import { parseDockerfile } from '../dockerfile/parse.ts';
import { resolveStages } from '../dockerfile/stages.ts';
import { BuildError, UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { formatPlatform, hostPlatform, parsePlatformSpec } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { RegistryClient } from '../registry/client.ts';
import { formatReference, parseReference } from '../registry/reference.ts';
import type { MirrorOptions, RemoteOptions } from '../registry/remote.ts';
import { FlagReader, parseBuildArgs, registryMap, registryOptions, type Env } from './executor-options.ts';
import { warmerFlags } from './flags.ts';
import { parseDuration } from './parse-flags.ts';
import { startCommandLine } from './command-line.ts';
import { exitWith, type CliIo } from './run-cli.ts';

/** Images downloaded at the same time. */
const PARALLEL_DOWNLOADS = 3;

interface WarmTarget {
  /** As the user wrote it (or as the FROM line expanded): what progress and error lines name. */
  readonly ref: string;
  readonly platform: Platform;
}

interface WarmFailure {
  readonly ref: string;
  readonly reason: string;
}

/** Several images failed: the message is one `<image>: <reason>` line per image (run-cli prefixes each with "error: "). */
class WarmFailedError extends BuildError {
  constructor(failures: readonly WarmFailure[]) {
    super('REGISTRY', failures.map((f) => `${f.ref}: ${f.reason.replace(/\s*\n\s*/g, ' ')}`).join('\nerror: '));
    this.name = 'WarmFailedError';
  }
}

/** kaniko's warmer takes --customPlatform; --custom-platform (the executor's spelling) is the same flag. */
function warmerPlatform(flags: FlagReader): Platform {
  const camel = flags.string('customPlatform');
  const kebab = flags.string('custom-platform');
  if (camel !== undefined && kebab !== undefined && camel !== kebab) {
    throw new UsageError(`--customPlatform=${camel} and --custom-platform=${kebab} disagree: give one of them`);
  }
  const spec = camel ?? kebab;
  return spec === undefined ? hostPlatform() : parsePlatformSpec(spec);
}

/** Every FROM of the Dockerfile that names a registry image (not scratch, not an earlier stage), with its --platform. */
async function dockerfileTargets(file: string, buildArgs: ReadonlyMap<string, string>, platform: Platform): Promise<WarmTarget[]> {
  const text = await readDockerfileText(file);
  const { stages } = resolveStages(parseDockerfile(text, file), { buildArgs, platform });
  const targets: WarmTarget[] = [];
  for (const stage of stages) {
    if (stage.base.kind !== 'image') continue;
    targets.push({ ref: stage.base.ref, platform: stage.platform === undefined ? platform : parsePlatformSpec(stage.platform) });
  }
  return targets;
}

/** One entry per image and platform, however it was spelled (busybox, docker.io/library/busybox:latest …). */
function uniqueTargets(targets: readonly WarmTarget[]): WarmTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    let key: string;
    try {
      key = `${formatReference(parseReference(t.ref))} ${formatPlatform(t.platform)}`;
    } catch {
      key = `${t.ref} ${formatPlatform(t.platform)}`; // invalid: kept, and reported when warmed
    }
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}


interface WarmAllOptions {
  readonly cacheDir: string;
  readonly ttl: number;
  readonly force: boolean;
  readonly registry: RemoteOptions;
  readonly mirrors: MirrorOptions;
  readonly log: Log;
}

async function warmAll(targets: readonly WarmTarget[], opts: WarmAllOptions): Promise<WarmFailure[]> {
  const failures: WarmFailure[] = [];
  const { log } = opts;
  await runLimited(targets.map((target) => async () => {
    log.info({ platform: formatPlatform(target.platform) }, `Warming image ${target.ref}`);
    try {
      const result = await warmImage(target.ref, {
        cacheDir: opts.cacheDir, ttl: opts.ttl, force: opts.force, log,
        registry: { ...opts.registry, platform: target.platform }, mirrors: opts.mirrors,
      });
      if (result.status === 'cached') log.info(`Cached ${target.ref} as ${result.digest}`);
      else log.info({ digest: result.digest }, `${target.ref} already cached`);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      log.debug({ err: reason }, `Failed to warm ${target.ref}`);
      failures.push({ ref: target.ref, reason });
    }
  }), PARALLEL_DOWNLOADS);
  return failures;
}

export async function warmerMain(io: CliIo): Promise<void> {
  const { flags, log } = startCommandLine(io, 'warmer', 'Cache base images in a local directory for the executor', warmerFlags);

  const platform = warmerPlatform(flags);
  const dockerfile = flags.string('dockerfile');
  const images = flags.list('image');
  if (images.length === 0 && dockerfile === undefined) {
    throw new UsageError('you must provide --image or --dockerfile', { hint: 'e.g. warmer --cache-dir=/cache --image=debian:12' });
  }
  const buildArgs = parseBuildArgs(flags.list('build-arg'), io.env);
  const fromDockerfile = dockerfile === undefined ? [] : await dockerfileTargets(resolve(dockerfile), buildArgs, platform);
  const targets = uniqueTargets([...images.map((ref) => ({ ref, platform })), ...fromDockerfile]);
  if (targets.length === 0) {
    log.info('The Dockerfile names no registry images: nothing to warm');
    return;
  }

  const settings = registryOptions(flags, 'pull', { env: io.env, log, kanikoDir: kanikoDirOf(io.env), platform });
  const client = new RegistryClient(settings);
  let failures: WarmFailure[];
  try {
    failures = await warmAll(targets, {
      cacheDir: resolve(flags.string('cache-dir') ?? '/cache'),
      ttl: parseDuration('cache-ttl', flags.string('cache-ttl') ?? '336h'),
      force: flags.bool('force'),
      registry: { ...settings, client },
      mirrors: { map: registryMap(flags), skipDefaultFallback: flags.bool('skip-default-registry-fallback') },
      log,
    });
  } finally {
    await client.close();
  }
  if (failures.length > 0) {
    log.info(`Warmed ${targets.length - failures.length} of ${targets.length} images`);
    // Report in the order the images were given, not the order the downloads finished.
    const order = new Map(targets.map((t, i) => [t.ref, i]));
    throw new WarmFailedError([...failures].sort((a, b) => (order.get(a.ref) ?? 0) - (order.get(b.ref) ?? 0)));
  }
  log.info(`Warmed ${targets.length} image${targets.length === 1 ? '' : 's'}`);
}

/** Where the executor image keeps its docker config (/kaniko/.docker); the warmer has no --kaniko-dir flag. */
function kanikoDirOf(env: Env): string {
  const dir = env['KANIKO_DIR'];
  return dir === undefined || dir === '' ? '/kaniko' : dir;
}

if (import.meta.main) await exitWith(warmerMain);
