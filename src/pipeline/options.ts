// What a build needs, already resolved from flags and environment by src/cli.
import type { Layer } from '../oci/image.ts';
import type { Log } from '../log.ts';
import type { Platform } from '../oci/types.ts';
import type { RemoteOptions } from '../registry/remote.ts';
import type { LayerCache } from '../cache/layer-cache.ts';
import type { SecretSource, SshSource } from '../commands/command.ts';
import type { StepRecord } from '../attestations/provenance.ts';
import type { ProgressSink } from '../progress/events.ts';
import type { NamedContexts } from './named-contexts.ts';

export interface OutputOptions {
  readonly destinations: readonly string[];
  readonly noPush: boolean;
  readonly tarPath?: string;
  readonly ociLayoutPath?: string;
  /** --annotation index-descriptor: annotations of the index's descriptor in --oci-layout-path's index.json. */
  readonly ociLayoutAnnotations?: Readonly<Record<string, string>>;
  readonly digestFile?: string;
  readonly imageNameWithDigestFile?: string;
  readonly imageNameTagWithDigestFile?: string;
  /** --metadata-file: buildx's JSON result file, written after the push (or the local outputs with --no-push). */
  readonly metadataFile?: string;
  readonly skipPushPermissionCheck: boolean;
  /** --push-ignore-immutable-tag-errors: a registry refusing to overwrite an immutable tag is not a failure. */
  readonly ignoreImmutableTagErrors?: boolean;
}

export interface BuildOptions {
  /** The build context on disk (already fetched). */
  readonly contextDir: string;
  /** Absolute path of the Dockerfile. */
  readonly dockerfilePath: string;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly labels: ReadonlyMap<string, string>;
  readonly target?: string;
  readonly platform: Platform;
  /** BUILDPLATFORM: the host (unset: the target platform, as before). */
  readonly buildPlatform?: Platform;
  /** The build root: '/' in container mode, --root-dir otherwise. */
  readonly rootDir: string;
  /** Scratch space for layer tars and stage roots (removed at the end). */
  readonly workDir: string;
  readonly kanikoDir: string;
  /** Set in non-root mode (issue 19): why. Owners and modes then live in ownership tables, and RUN is refused. */
  readonly rootless?: string;
  readonly ignorePaths: readonly string[];
  readonly ignoreVarRun: boolean;
  readonly snapshotMode: 'full' | 'redo' | 'time';
  readonly singleSnapshot: boolean;
  /** --force-build-metadata: steps that change no files still get a (empty) layer, as kaniko. */
  readonly forceBuildMetadata?: boolean;
  readonly reproducible: boolean;
  /** SOURCE_DATE_EPOCH, seconds, when set. */
  readonly sourceDateEpoch?: number;
  readonly cleanup: boolean;
  readonly skipUnusedStages: boolean;
  /** --max-parallel-stages: independent stages built at once (unset: the CPU count, at least 2; 1: one after another). */
  readonly maxParallelStages?: number;
  readonly compression: 'gzip' | 'zstd';
  /**
   * Called with each layer of the target stage as soon as it exists (built or taken from the layer cache): the CLI
   * starts uploading it to the destinations while the build goes on.
   */
  readonly onTargetLayer?: (layer: Layer) => void;
  /** Called after each step (--provenance=mode=max records them; not called under --single-snapshot). */
  readonly onStep?: (step: StepRecord) => void;
  /** Called with every base or COPY --from image pulled, and its resolved manifest digest (--provenance materials). */
  readonly onPulled?: (ref: string, platform: Platform, digest: string) => void;
  /** Unset: DEFAULT_COMPRESSION_LEVEL. */
  readonly compressionLevel?: number;
  readonly imageFsExtractRetry: number;
  /** Registry settings for base-image pulls (and COPY --from images). */
  readonly pull: RemoteOptions;
  readonly registryMap: ReadonlyMap<string, readonly string[]>;
  /** --cache: base images from cacheDir (filled by the warmer) before the registry, and the layer cache. */
  readonly cache: boolean;
  readonly cacheDir: string;
  /** --cache-ttl in milliseconds. */
  readonly cacheTtlMs: number;
  /** With --cache: where RUN/COPY layers are looked up and stored, and which kinds are cached. */
  readonly layerCache?: { readonly store: LayerCache; readonly runLayers: boolean; readonly copyLayers: boolean };
  /** Where RUN's static helper may be (first existing wins); looked up only when a stage has a RUN. */
  readonly runHelperCandidates: readonly string[];
  /** --secret: id → source, for RUN --mount=type=secret. */
  readonly secrets?: ReadonlyMap<string, SecretSource>;
  /** --cache-mount-dir: RUN --mount=type=cache contents, kept between builds (default <kaniko-dir>/cache-mounts). */
  readonly cacheMountDir?: string;
  /** --build-context NAME=VALUE: named build contexts for FROM, COPY --from and RUN --mount from=. */
  readonly namedContexts?: NamedContexts;
  /** --ssh: id → agent socket or key files, for RUN --mount=type=ssh. */
  readonly ssh?: ReadonlyMap<string, SshSource>;
  /** The git credentials of the environment (GIT_TOKEN, GIT_USERNAME, GIT_PASSWORD, GIT_SSH_COMMAND), for ADD of a git repository. */
  readonly gitEnv?: Readonly<Record<string, string | undefined>>;
  /** Where RUN output goes (kaniko prints it raw on standard output), with the step it comes from. */
  readonly runOutput: (chunk: Buffer, from?: RunOutputSource) => void;
  /** The runOutput sink names each line's stage itself (JSON lines): stages running at once get no `[stage] ` prefix. */
  readonly runOutputLabelled?: boolean;
  /** Several platforms built: this one's, shown before the stage in step lines and the summary (BuildKit). */
  readonly progressPlatform?: string;
  readonly skipDefaultRegistryFallback: boolean;
  readonly log: Log;
  /** Step events (started, finished/CACHED, failed) for the progress display (src/progress); default: none. */
  readonly progress?: ProgressSink;
  readonly signal: AbortSignal;
}

/**
 * The layer compression level when --compression-level is not > 0: kaniko leaves go-containerregistry's default,
 * gzip.BestSpeed (1), for gzip and zstd alike. Level 1 is also ~3× faster than 6 for ~5% more bytes on typical layers.
 */
export const DEFAULT_COMPRESSION_LEVEL = 1;

/** The step a chunk of RUN output comes from: the stage as BuildKit labels it ('' for a one-stage Dockerfile) and the step number. */
export interface RunOutputSource {
  readonly stage: string;
  readonly step: number;
}
