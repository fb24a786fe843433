// Runs a WHOLE operation again after a temporary failure (a blob upload restarts from the
// beginning by re-opening the layer), honouring a registry's Retry-After.
import type { Log } from '../log.ts';
import { defaultBackoff } from './options.ts';
import { isTemporary, RegistryError } from './registry-error.ts';

export interface RetryOptions {
  /** Extra attempts after the first. */
  readonly retries: number;
  readonly backoff?: (attempt: number) => number;
  /** Upper bound on a Retry-After wait. */
  readonly maxRetryAfterMs?: number;
  readonly log?: Log;
  /** Describes the operation in log lines. */
  readonly what?: string;
  readonly sleep?: (ms: number) => Promise<void>;
}

export async function withRetries<T>(op: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const backoff = opts.backoff ?? defaultBackoff;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (attempt >= opts.retries || !isTemporary(err)) throw err;
      const retryAfter = err instanceof RegistryError ? err.retryAfterMs : undefined;
      const wait = retryAfter !== undefined ? Math.min(retryAfter, opts.maxRetryAfterMs ?? 120_000) : backoff(attempt + 1);
      opts.log?.warn({ attempt: attempt + 1, retries: opts.retries, waitMs: wait, err: (err as Error).message },
        `${opts.what ?? 'Registry operation'} failed; retrying`);
      await sleep(wait);
    }
  }
}
