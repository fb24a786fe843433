// One error hierarchy for the whole program. Library code throws these; only src/cli turns
// them into a single output line and an exit code (see docs/ARCHITECTURE.md).

export type ErrorCode =
  | 'USAGE'            // a bad flag or flag value
  | 'DOCKERFILE'       // Dockerfile syntax or semantics
  | 'CONTEXT'          // fetching or reading the build context
  | 'REGISTRY'         // a registry answered with an error
  | 'AUTH'             // credentials missing or refused
  | 'NETWORK'          // connection failure
  | 'DIGEST_MISMATCH'  // content does not match its digest
  | 'INVALID_JSON'     // a manifest/config/other document is malformed
  | 'ROOTFS'           // unsafe or impossible filesystem operation in the build root
  | 'BUILD'            // a build step failed
  | 'RUN_FAILED'       // a RUN command exited non-zero (exitCode carries its status)
  | 'ARCHIVE'          // reading/writing a tarball or OCI layout
  | 'NOT_SUPPORTED';   // a recognised flag or feature that is not built yet

export interface BuildErrorOptions {
  readonly cause?: unknown;
  readonly hint?: string;
  /** Process exit status the CLI should use; defaults to 1. */
  readonly exitCode?: number;
  /** The Dockerfile and (first) line of the instruction that failed; the CLI shows an excerpt around it. */
  readonly location?: { readonly file: string; readonly line: number };
}

export class BuildError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly location: { readonly file: string; readonly line: number } | undefined;
  constructor(code: ErrorCode, message: string, options: BuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BuildError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
    this.location = options.location;
  }
}

/** A bad command-line flag; the message names the flag. */
export class UsageError extends BuildError {
  constructor(message: string, options: BuildErrorOptions = {}) {
    super('USAGE', message, options);
    this.name = 'UsageError';
  }
}

/** A Dockerfile problem, located at file:line. */
export class DockerfileError extends BuildError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string, options: BuildErrorOptions = {}) {
    super('DOCKERFILE', `${file}:${line}: ${message}`, { location: { file, line }, ...options });
    this.name = 'DockerfileError';
    this.file = file;
    this.line = line;
  }
}

export function isBuildError(err: unknown): err is BuildError {
  return err instanceof BuildError;
}

/** Exhaustiveness guard for discriminated unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

/** Whether `err`, or an error in its cause chain, is a full disk (ENOSPC, or a quota: EDQUOT). */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 16; depth++) {
    if (typeof e !== 'object') return false;
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    if (e instanceof Error && /\bENOSPC\b|no space left on device/i.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
