// The typed build events every progress display consumes: steps (started, finished or cached, failed), blob
// transfers, and the built image. Emitted by src/pipeline (steps) and src/registry (transfers) through a sink
// passed in their options; the default sink drops them. Renderers (plain.ts, tty.ts, quiet) and the summary are
// consumers of these events, never a second source of facts.

/** One instruction of one stage, BuildKit's way: FROM is step 1 of `total`. */
export interface StepId {
  /** The stage as BuildKit labels it: its name, `stage-N`, or '' when the Dockerfile has one stage. */
  readonly stage: string;
  readonly step: number;
  readonly total: number;
  /** The instruction as written (`COPY app /srv/app`). */
  readonly instruction: string;
}

export interface StepStarted extends StepId {
  readonly type: 'step-started';
}

export interface StepFinished extends StepId {
  readonly type: 'step-finished';
  readonly durationMs: number;
  /** Served from the layer cache. */
  readonly cached: boolean;
  /** Compressed size of the layer the step added (none: the step changed no files). */
  readonly layerSize?: number;
}

export interface StepFailed extends StepId {
  readonly type: 'step-failed';
  readonly durationMs: number;
  /** The reason, as the error line will print it. */
  readonly reason: string;
  /** The last lines of a RUN's output (empty for other instructions or a silent command). */
  readonly outputTail: readonly string[];
}

/** A new complete line of a running RUN's output (the tty display shows the latest under its step). */
export interface StepOutput extends StepId {
  readonly type: 'step-output';
  readonly line: string;
}

/** A blob going to or coming from a registry; sent for big blobs only, at most every few hundred ms, and at the end. */
export interface Transfer {
  readonly type: 'transfer';
  /** Unique per transfer (direction, repository, digest). */
  readonly id: string;
  readonly direction: 'pull' | 'push';
  /** registry/repository */
  readonly repository: string;
  readonly digest: string;
  readonly bytes: number;
  /** The blob's size when known. */
  readonly total?: number;
  readonly elapsedMs: number;
  readonly finished: boolean;
  /** With finished: the transfer stopped before its end (an error, a retry, a reader that went away). */
  readonly failed?: boolean;
}

/** The end of a successful build: what was made and where it went. */
export interface BuildFinished {
  readonly type: 'build-finished';
  readonly digest: string;
  /** Compressed size: the config and the layers of every platform's manifest. */
  readonly size: number;
  /** Every registry destination pushed (empty with --no-push). */
  readonly pushed: readonly string[];
  /** Local outputs written (--tar-path, --oci-layout-path). */
  readonly written: readonly string[];
}

export type ProgressEvent = StepStarted | StepFinished | StepFailed | StepOutput | Transfer | BuildFinished;

export type ProgressSink = (event: ProgressEvent) => void;

export const noProgress: ProgressSink = () => undefined;

/** Steps and transfers of blobs smaller than this are not reported as transfers (they finish at once). */
export const TRANSFER_MIN_BYTES = 1024 * 1024;
