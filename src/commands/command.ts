// The one interface every Dockerfile instruction implements. Effects are declared as data
// (not kaniko's boolean methods) so the build loop can plan snapshots and caching.
import type { OwnershipTable } from '../ownership/table.ts';
import type { Log } from '../log.ts';
import type { IgnoreList } from '../rootfs/ignore-list.ts';
import type { ConfigFile } from '../oci/types.ts';

export interface CommandEffects {
  /** none: metadata only; files: the command reports the paths it wrote; tree: walk the root. */
  readonly snapshot: 'none' | 'files' | 'tree';
  readonly cacheable: boolean;
  /** True when the command reads or writes the build root (the base must be unpacked first). */
  readonly needsRootfs: boolean;
}

export interface StepContext {
  /** The build root on disk ('/' in container mode, --root-dir otherwise). */
  readonly root: string;
  /** The build context directory on disk. */
  readonly contextDir: string;
  /** The image config as it is before this step. Never mutate it: return a new one. */
  readonly image: ConfigFile;
  /** ARGs in scope (declared in this stage, with their resolved values). */
  readonly args: ReadonlyMap<string, string>;
  /** --build-arg values. */
  readonly buildArgs: ReadonlyMap<string, string>;
  /** Global ARGs (before the first FROM) with their values: a stage ARG without a default inherits these. */
  readonly metaArgs: ReadonlyMap<string, string>;
  /** True once CMD was set in this stage (ENTRYPOINT clears only an inherited CMD, as Docker). */
  readonly cmdSet: boolean;
  /** Replacement environment for word expansion: ARGs in scope overlaid by the image ENV (ENV wins). */
  readonly env: ReadonlyMap<string, string>;
  /** Root directory of an earlier stage (by name or index) or a remote image, for COPY --from. */
  resolveFrom(from: string): Promise<string>;
  /**
   * A named build context (--build-context) that is a directory: COPY --from and RUN --mount from= treat it as a
   * build context (files 0:0, its own .dockerignore). Undefined for every other --from.
   */
  readonly namedContextOf?: (from: string) => Promise<{ readonly root: string; readonly ignore: { matches(relPath: string): boolean; canSkipDir(relDir: string): boolean } | undefined } | undefined>;
  /** The Dockerfile's escape character (\\ or `). */
  readonly escape: string;
  readonly log: Log;
  readonly signal: AbortSignal;
  /** Non-root mode: this root's ownership table (COPY/ADD record owners and modes there instead of chown). */
  readonly owners?: OwnershipTable;
  /** Non-root mode: the table of a COPY --from root (its owners and modes), when it has one. */
  readonly ownersOf?: (root: string) => OwnershipTable | undefined;
  /** How RUN executes: the native helper, whether to isolate (--root-dir builds), where its output goes (an empty chunk after each RUN: its output has ended). */
  readonly runtime: {
    readonly helperPath: string; readonly isolate: boolean; readonly output: (chunk: Buffer) => void;
    /** --secret: id → where its value comes from (RUN --mount=type=secret); read only when a RUN uses it. */
    readonly secrets?: ReadonlyMap<string, SecretSource>;
    /** --ssh: id → the agent socket to forward or the key files to serve (RUN --mount=type=ssh). */
    readonly ssh?: ReadonlyMap<string, SshSource>;
    /** GIT_TOKEN, GIT_USERNAME, GIT_PASSWORD, GIT_SSH_COMMAND of the executor's environment (ADD of a git repository). */
    readonly gitEnv?: Readonly<Record<string, string | undefined>>;
    /** Scratch directory outside the snapshot for secret files. */
    readonly scratchDir?: string;
    /** The paths that are not the image's (non-root RUN: the walk that maps the supervisor's records to paths skips them). */
    readonly ignore?: IgnoreList;
    /** --cache-mount-dir: where RUN --mount=type=cache contents live between builds. */
    readonly cacheMountDir?: string;
  };
}

export interface StepResult {
  /** The image config after this step. */
  readonly image: ConfigFile;
  /** New ARG scope, when the step declared an ARG. */
  readonly args?: ReadonlyMap<string, string>;
  /** Set by CMD. */
  readonly cmdSet?: boolean;
  /** For snapshot 'files': absolute paths inside the root (starting with '/') that the step created or changed. */
  readonly changed?: readonly string[];
}

export interface Command {
  /** 1-based line in the Dockerfile, for errors and history. */
  readonly line: number;
  /** The instruction as written (for history's created_by and the log). */
  readonly text: string;
  readonly effects: CommandEffects;
  execute(step: StepContext): Promise<StepResult>;
  /**
   * The instruction-specific layer-cache inputs (src/cache/cache-key.ts), beyond the instruction text the build
   * loop adds itself: for COPY/ADD the resolved sources' paths, modes, owners and content digests. Reads only
   * the context / source stage (never needs the root unpacked); throws what execute() would for bad sources.
   */
  cacheInputs?(step: StepContext): Promise<readonly (string | Uint8Array)[]>;
}

/** Where a --secret's value comes from: a file on the executor's host, or one of the executor's environment variables. */
export type SecretSource = { readonly src: string } | { readonly env: string };

/** Where a --ssh id's agent comes from: an agent socket to forward, or private key files served by an agent of our own. */
export type SshSource = { readonly socket: string } | { readonly keys: readonly string[] };
