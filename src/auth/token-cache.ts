// A per-keychain cache of short-lived credentials (ECR tokens last 12 hours, ACR refresh tokens about 3):
// a long build resolves the same registry again for pulls, cache pushes and the final push, and each
// fetch is a round trip to a cloud API that also rate-limits. Owned by one keychain instance, so no
// module-level state: two keychains never share (or leak) each other's tokens.
import type { AuthConfig } from './keychain.ts';

export interface Expiring {
  readonly config: AuthConfig;
  /** Epoch milliseconds after which the credential must not be used. */
  readonly expiresAt: number;
}

export interface TokenCache {
  /** The cached credential, or a fresh one from `fetch`; undefined when `fetch` finds none configured. */
  get(key: string, fetch: () => Promise<Expiring | undefined>): Promise<AuthConfig | undefined>;
}

/**
 * Refreshes `marginMs` before expiry so a token is never handed out seconds before it dies in the
 * middle of an upload. Concurrent callers share one in-flight fetch; failures are not cached, so the
 * next resolve tries again.
 */
export function tokenCache(opts: { readonly now?: () => number; readonly marginMs?: number } = {}): TokenCache {
  const now = opts.now ?? Date.now;
  const margin = opts.marginMs ?? 5 * 60_000;
  const entries = new Map<string, Expiring>();
  const inFlight = new Map<string, Promise<Expiring | undefined>>();
  return {
    async get(key, fetch) {
      const hit = entries.get(key);
      if (hit !== undefined && hit.expiresAt - margin > now()) return hit.config;
      let pending = inFlight.get(key);
      if (pending === undefined) {
        pending = fetch().finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      const fresh = await pending;
      if (fresh === undefined) {
        entries.delete(key);
        return undefined;
      }
      entries.set(key, fresh);
      return fresh.config;
    },
  };
}
