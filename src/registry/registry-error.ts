// Registry failures as one error class, classified once (go-containerregistry remote/transport
// error.go + retry.go): what went wrong, where (redacted), and whether trying again may help.
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { BuildError, type ErrorCode } from '../errors.ts';
import { redactUrl } from '../redact.ts';

/** One entry of a distribution error body: {"errors":[{"code","message","detail"}]}. */
export interface Diagnostic {
  readonly code: string;
  readonly message: string;
  readonly detail?: unknown;
}

export interface RegistryErrorInit {
  readonly code: Extract<ErrorCode, 'REGISTRY' | 'AUTH' | 'NETWORK'>;
  readonly message: string;
  readonly registry: string;
  /** 0 when no HTTP answer was received. */
  readonly status: number;
  readonly method: string;
  readonly url: string;
  readonly diagnostics?: readonly Diagnostic[];
  readonly temporary: boolean;
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
  readonly hint?: string;
}

export class RegistryError extends BuildError {
  readonly registry: string;
  readonly status: number;
  readonly method: string;
  /** Already redacted. */
  readonly url: string;
  readonly diagnostics: readonly Diagnostic[];
  readonly temporary: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(init: RegistryErrorInit) {
    super(init.code, init.message, {
      ...(init.cause === undefined ? {} : { cause: init.cause }),
      ...(init.hint === undefined ? {} : { hint: init.hint }),
    });
    this.name = 'RegistryError';
    this.registry = init.registry;
    this.status = init.status;
    this.method = init.method;
    this.url = redactUrl(init.url);
    this.diagnostics = init.diagnostics ?? [];
    this.temporary = init.temporary;
    this.retryAfterMs = init.retryAfterMs;
  }
}

const MAX_ERROR_BODY = 64 * 1024;

/** Reads at most 64 KiB of a body and discards the rest (the connection is then dropped). */
export async function readErrorBody(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      chunks.push(b.subarray(0, Math.max(0, MAX_ERROR_BODY - size)));
      size += b.length;
      if (size >= MAX_ERROR_BODY) break;
    }
  } catch {
    // An error body that cannot be read is still an error; the status says enough.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function parseDiagnostics(text: string): Diagnostic[] {
  let u: unknown;
  try {
    u = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof u !== 'object' || u === null) return [];
  const errors = (u as Record<string, unknown>)['errors'];
  if (!Array.isArray(errors)) return [];
  const out: Diagnostic[] = [];
  for (const e of errors.slice(0, 10)) {
    if (typeof e !== 'object' || e === null) continue;
    const r = e as Record<string, unknown>;
    const code = typeof r['code'] === 'string' ? r['code'] : 'UNKNOWN';
    const message = typeof r['message'] === 'string' ? r['message'] : '';
    out.push(r['detail'] === undefined ? { code, message } : { code, message, detail: r['detail'] });
  }
  return out;
}

export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function isTemporaryStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

export interface HttpFailure {
  readonly registry: string;
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Readable;
}

/** Builds the error for an unexpected HTTP status; consumes (part of) the body. */
export async function errorFromResponse(f: HttpFailure, what?: string): Promise<RegistryError> {
  const diagnostics = parseDiagnostics(await readErrorBody(f.body));
  const diag = diagnostics.map((d) => (d.message ? `${d.code}: ${d.message}` : d.code)).join('; ');
  const retryAfter = parseRetryAfter(headerValue(f.headers, 'retry-after'));
  const base = { registry: f.registry, status: f.status, method: f.method, url: f.url, diagnostics };
  if (f.status === 401 || f.status === 403) {
    return new RegistryError({
      ...base,
      code: 'AUTH',
      temporary: false,
      message: authFailureMessage(f.registry, f.status, diag),
    });
  }
  const path = pathOf(f.url);
  return new RegistryError({
    ...base,
    code: 'REGISTRY',
    temporary: isTemporaryStatus(f.status),
    ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
    message: `${what ?? `${f.method} ${path}`}: registry ${f.registry} answered ${statusLine(f.status)}${diag ? ` (${diag})` : ''}`,
  });
}

export function authFailureMessage(registry: string, status: number, diag = ''): string {
  return `authentication to ${registry} failed: ${statusLine(status)}${diag ? ` (${diag})` : ''} ` +
    `(check the credentials for ${registry} in DOCKER_CONFIG)`;
}

const TEMPORARY_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED', 'ECONNABORTED',
]);

const NETWORK_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused', ECONNRESET: 'connection reset', ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed', ETIMEDOUT: 'connection timed out', UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed unexpectedly', EHOSTUNREACH: 'host unreachable', EPIPE: 'connection closed',
};

/** Finds the most specific errno-like code in an error and its causes. */
export function networkCode(err: unknown): string | undefined {
  let e: unknown = err;
  let found: string | undefined;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (found === undefined || found.startsWith('UND_ERR'))) found = code;
    e = (e as { cause?: unknown }).cause;
  }
  return found;
}

/**
 * A failure before any HTTP answer (refused, reset, TLS, DNS). A BuildError is returned as is:
 * it came from our own request body (e.g. a DIGEST_MISMATCH while streaming a layer).
 */
export function errorFromNetwork(registry: string, method: string, url: string, err: unknown): BuildError {
  if (err instanceof BuildError) return err;
  const code = networkCode(err);
  const words = (code !== undefined ? NETWORK_WORDS[code] : undefined) ??
    (code !== undefined && code.startsWith('ERR_TLS') || code?.includes('CERT') ? `TLS error (${code})` : undefined) ??
    (err instanceof Error ? err.message : String(err));
  return new RegistryError({
    code: 'NETWORK',
    registry,
    status: 0,
    method,
    url,
    temporary: code !== undefined && TEMPORARY_NETWORK_CODES.has(code),
    message: `cannot reach registry ${registry}: ${words}`,
    cause: err,
    ...(words.startsWith('TLS error')
      ? { hint: `trust its CA with --registry-certificate ${registry}=<ca.pem>, or use --skip-tls-verify-registry ${registry}` }
      : {}),
  });
}

/** The single retry predicate. */
export function isTemporary(err: unknown): boolean {
  if (err instanceof RegistryError) return err.temporary;
  if (err instanceof BuildError) return false;
  const code = networkCode(err);
  return code !== undefined && TEMPORARY_NETWORK_CODES.has(code);
}

export function headerValue(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function pathOf(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname;
  } catch {
    return redactUrl(url);
  }
}
