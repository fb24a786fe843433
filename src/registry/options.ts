// Resolved, per-host registry settings. The CLI maps kaniko's flags (--insecure, --insecure-pull,
// --skip-tls-verify*, --registry-certificate, --registry-client-cert, --push-retry,
// --image-download-retry) onto this; the registry code never looks at flags or the environment.
import type { Keychain } from '../auth/keychain.ts';
import type { Log } from '../log.ts';
import type { Platform } from '../oci/types.ts';
import type { ProgressSink } from '../progress/events.ts';

export interface ClientCertificate {
  /** Path of the PEM client certificate. */
  readonly cert: string;
  /** Path of the PEM private key. */
  readonly key: string;
}

export interface RegistryOptions {
  readonly keychain: Keychain;
  /** Hosts (host[:port]) reached over plain HTTP. Every other host is HTTPS. */
  readonly insecureRegistries: ReadonlySet<string>;
  /** Hosts whose TLS certificate is not verified. */
  readonly skipTlsVerifyRegistries: ReadonlySet<string>;
  /** Every host over plain HTTP (kaniko's --insecure for pushes, --insecure-pull for pulls). */
  readonly insecureAll?: boolean;
  /** No host's TLS certificate is verified (kaniko's --skip-tls-verify / --skip-tls-verify-pull). */
  readonly skipTlsVerifyAll?: boolean;
  /** host -> path of an extra CA bundle (PEM). */
  readonly certificates: ReadonlyMap<string, string>;
  readonly clientCerts: ReadonlyMap<string, ClientCertificate>;
  /** How many times a failed operation is run again (0 = once only). */
  readonly retries: number;
  /** Delay before retry number `attempt` (1-based); default exponential from 1 s. */
  readonly backoff?: (attempt: number) => number;
  readonly userAgent: string;
  readonly log: Log;
  /** Platform chosen from an index; defaults to hostPlatform(). */
  readonly platform?: Platform;
  /** Blobs larger than this are uploaded in PATCH chunks; default 64 MiB. */
  readonly chunkedUploadThreshold?: number;
  /** Size of each PATCH chunk; default 64 MiB. */
  readonly chunkSize?: number;
  /** Parallel blob uploads in writeImage; default 3. */
  readonly uploadConcurrency?: number;
  /** Receives transfer events for blob pulls and pushes of at least `transferMinBytes` (default 1 MiB). */
  readonly progress?: ProgressSink;
  readonly transferMinBytes?: number;
}

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

/** Exponential backoff 1 s, 2 s, 4 s … capped at 30 s. */
export function defaultBackoff(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
}
