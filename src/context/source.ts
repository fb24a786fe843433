// Where a build context comes from. Each scheme (dir://, tar://, s3://, gs://, azure blob, git://,
// https://) is one module implementing this; pick.ts chooses by the --context prefix.
import type { fetch as undiciFetch } from 'undici';
import type { Log } from '../log.ts';

export interface ContextSource {
  /** The scheme as kaniko spells its prefix ('dir', 'tar', 's3', ...), for logs and errors. */
  readonly scheme: string;
  /**
   * Make the context available on disk and return its root directory. Remote sources download or
   * unpack into workDir; a local directory is returned in place.
   */
  fetch(workDir: string, signal: AbortSignal): Promise<string>;
}

/** kaniko's `--git key=value` options (one key per occurrence). */
export interface GitContextOptions {
  readonly branch?: string;
  readonly singleBranch?: boolean;
  readonly recurseSubmodules?: boolean;
  readonly insecureSkipTls?: boolean;
  /** Clone depth; 0 or absent means the full history. */
  readonly depth?: number;
}

/** The fetch seam: undici's fetch signature, replaceable in tests. */
export type FetchFn = typeof undiciFetch;

/**
 * What a context source may use from the outside world. Sources never read process.env or
 * process.stdin themselves: src/cli passes them in.
 */
export interface ContextDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `tar://stdin` reads this; a TTY is refused. */
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly git: GitContextOptions;
  readonly log: Log;
  /** HTTP downloads (https:// contexts, remote Dockerfiles); defaults to undici's fetch. */
  readonly fetch?: FetchFn;
}
