// The Registry v2 verbs for blobs and manifests (distribution spec), over one transport per host.
import { Transform, type Readable } from 'node:stream';
import { TRANSFER_MIN_BYTES } from '../progress/events.ts';
import { isDigest, sha256Of, verifyingStream } from '../oci/digest.ts';
import { MediaTypes, type Digest, type MediaType } from '../oci/types.ts';
import { uploadChunked, uploadMonolithic } from './blob-upload.ts';
import type { RegistryOptions } from './options.ts';
import { formatReference, manifestIdentifier, type Reference } from './reference.ts';
import { errorFromNetwork, headerValue, RegistryError } from './registry-error.ts';
import { RegistryTransport, type TransportResponse } from './transport.ts';

/** Where a blob or manifest lives. */
export interface RepositoryRef {
  readonly registry: string;
  readonly repository: string;
}

/** What an upload needs from a blob; a Layer satisfies it. */
export interface BlobSource {
  digest(): Promise<Digest>;
  size(): Promise<number>;
  /** A fresh stream per call (an upload that is retried re-opens it). */
  compressed(): Promise<Readable>;
}

export interface FetchedManifest {
  readonly bytes: Uint8Array;
  readonly mediaType: MediaType;
  readonly digest: Digest;
}

export interface ManifestHead {
  readonly digest: Digest | undefined;
  readonly mediaType: MediaType | undefined;
  readonly size: number | undefined;
}

export type UploadOutcome = 'exists' | 'mounted' | 'uploaded';

/** Accept header naming every manifest type we understand. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList,
].join(', ');

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const pullScope = (repo: RepositoryRef): string => `repository:${repo.repository}:pull`;
export const pushScope = (repo: RepositoryRef): string => `repository:${repo.repository}:pull,push`;

export class RegistryClient {
  readonly options: RegistryOptions;
  readonly #transports = new Map<string, RegistryTransport>();
  /** One upload per blob and repository at a time; failures are forgotten so a retry uploads again. */
  readonly #uploads = new Map<string, Promise<UploadOutcome>>();
  /** registry@digest → the first repository it went to: another repository of that registry mounts it from there. */
  readonly #firstUpload = new Map<string, { readonly repository: string; readonly outcome: Promise<UploadOutcome> }>();

  constructor(options: RegistryOptions) {
    this.options = options;
  }

  transport(registry: string): RegistryTransport {
    let t = this.#transports.get(registry);
    if (t === undefined) {
      t = new RegistryTransport(registry, this.options);
      this.#transports.set(registry, t);
    }
    return t;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#transports.values()].map((t) => t.close()));
    this.#transports.clear();
  }

  /** Size of a blob in the repository, or undefined when it is not there. */
  async headBlob(repo: RepositoryRef, digest: Digest): Promise<{ size: number | undefined } | undefined> {
    const res = await this.transport(repo.registry).request({
      method: 'HEAD', url: `/v2/${repo.repository}/blobs/${digest}`, scopes: [pullScope(repo)], expect: [200, 404],
      what: `checking blob ${digest} in ${repo.registry}/${repo.repository}`,
    });
    await res.body.dump().catch(() => undefined);
    if (res.status === 404) return undefined;
    const length = Number(headerValue(res.headers, 'content-length'));
    return { size: Number.isFinite(length) ? length : undefined };
  }

  /** A stream of the blob that errors with DIGEST_MISMATCH at its end if the bytes are not `digest`. */
  async getBlob(repo: RepositoryRef, digest: Digest, size?: number): Promise<Readable> {
    const t = this.transport(repo.registry);
    const res = await t.request({
      method: 'GET', url: `/v2/${repo.repository}/blobs/${digest}`, scopes: [pullScope(repo)], expect: [200],
      what: `blob ${digest} of ${repo.registry}/${repo.repository}`,
    });
    const verify = verifyingStream(digest, size, `blob ${digest} from ${repo.registry}/${repo.repository}`);
    res.body.on('error', (err) => verify.destroy(errorFromNetwork(repo.registry, 'GET', res.url, err)));
    verify.on('close', () => res.body.destroy());
    const piped = res.body.pipe(verify);
    const meter = this.#meter('pull', repo, digest, size);
    if (meter !== undefined) {
      // pipe() already reads with 'data' events: one more listener only counts.
      res.body.on('data', (chunk: Buffer) => meter.add(chunk.length));
      verify.on('end', () => meter.end());
      verify.on('close', () => meter.fail());
    }
    return piped;
  }

  async headManifest(ref: Reference): Promise<ManifestHead | undefined> {
    const res = await this.transport(ref.registry).request({
      method: 'HEAD', url: manifestPath(ref), headers: { accept: MANIFEST_ACCEPT }, scopes: [pullScope(ref)], expect: [200, 404],
      what: `manifest ${formatReference(ref)}`,
    });
    await res.body.dump().catch(() => undefined);
    if (res.status === 404) return undefined;
    const d = headerValue(res.headers, 'docker-content-digest');
    const length = Number(headerValue(res.headers, 'content-length'));
    return {
      digest: isDigest(d) ? d : undefined,
      mediaType: contentType(res),
      size: Number.isFinite(length) ? length : undefined,
    };
  }

  /** Fetches a manifest and checks it against the digest asked for, or Docker-Content-Digest. */
  async getManifest(ref: Reference, accept: string = MANIFEST_ACCEPT): Promise<FetchedManifest> {
    const what = `manifest ${formatReference(ref)}`;
    const res = await this.transport(ref.registry).request({
      method: 'GET', url: manifestPath(ref), headers: { accept }, scopes: [pullScope(ref)], expect: [200], what,
    });
    const bytes = await readSmall(res, MAX_MANIFEST_BYTES, what, ref.registry);
    const digest = sha256Of(bytes);
    const claimed = headerValue(res.headers, 'docker-content-digest');
    const expected = ref.digest ?? (isDigest(claimed) ? claimed : undefined);
    if (expected !== undefined && expected !== digest) {
      throw new RegistryError({
        code: 'REGISTRY', registry: ref.registry, status: res.status, method: 'GET', url: res.url, temporary: false,
        message: `${what}: content digest is ${digest}, expected ${expected}`,
      });
    }
    return { bytes, digest, mediaType: contentType(res) ?? embeddedMediaType(bytes) ?? MediaTypes.dockerManifest };
  }

  /** PUT a manifest by tag (or digest); returns its digest. */
  async putManifest(ref: Reference, bytes: Uint8Array, mediaType: MediaType): Promise<Digest> {
    const digest = sha256Of(bytes);
    const res = await this.transport(ref.registry).request({
      method: 'PUT', url: `/v2/${ref.repository}/manifests/${ref.tag ?? ref.digest ?? digest}`,
      headers: { 'content-type': mediaType }, body: bytes, scopes: [pushScope(ref)], expect: [200, 201, 202],
      what: `pushing manifest ${formatReference(ref)}`,
    });
    await res.body.dump().catch(() => undefined);
    return digest;
  }

  /**
   * HEAD → (mount from another repository of the same registry) → POST + PUT (or PATCH chunks).
   * Concurrent uploads of one digest to one repository share a single attempt.
   */
  async uploadBlob(repo: RepositoryRef, blob: BlobSource, opts: { mountFrom?: RepositoryRef } = {}): Promise<UploadOutcome> {
    const digest = await blob.digest();
    const key = `${repo.registry}/${repo.repository}@${digest}`;
    const running = this.#uploads.get(key);
    if (running !== undefined) return running;
    // A blob going (or gone) to another repository of the same registry — a layer built on a cache miss goes to the
    // cache repository and to the destination — is uploaded once: the second waits for the first and mounts it
    // (a registry that refuses the mount answers 202 and the blob is uploaded after all).
    const regKey = `${repo.registry}@${digest}`;
    const first = opts.mountFrom === undefined ? this.#firstUpload.get(regKey) : undefined;
    const p = first !== undefined && first.repository !== repo.repository
      ? first.outcome.catch(() => undefined).then(() => this.#upload(repo, digest, blob, { registry: repo.registry, repository: first.repository }))
      : this.#upload(repo, digest, blob, opts.mountFrom);
    if (first === undefined) this.#firstUpload.set(regKey, { repository: repo.repository, outcome: p });
    this.#uploads.set(key, p);
    p.catch(() => this.#uploads.delete(key));
    return p;
  }

  async #upload(repo: RepositoryRef, digest: Digest, blob: BlobSource, mountFrom: RepositoryRef | undefined): Promise<UploadOutcome> {
    if (await this.headBlob(repo, digest) !== undefined) return 'exists';
    const t = this.transport(repo.registry);
    const base = `/v2/${repo.repository}/blobs/uploads/`;
    const canMount = mountFrom !== undefined && mountFrom.registry === repo.registry && mountFrom.repository !== repo.repository;
    const start = await t.request({
      method: 'POST',
      url: canMount ? `${base}?mount=${digest}&from=${encodeURIComponent(mountFrom.repository)}` : base,
      headers: { 'content-length': '0' },
      scopes: canMount ? [pushScope(repo), pullScope(mountFrom)] : [pushScope(repo)],
      expect: canMount ? [201, 202] : [202],
      what: `starting upload of ${digest} to ${repo.registry}/${repo.repository}`,
    });
    await start.body.dump().catch(() => undefined);
    if (start.status === 201) {
      this.options.log.debug({ digest, from: mountFrom?.repository, to: repo.repository }, 'Mounted blob');
      return 'mounted';
    }
    const location = uploadLocation(t, start, repo);
    const size = await blob.size();
    const started = Date.now();
    const threshold = this.options.chunkedUploadThreshold ?? 64 * 1024 * 1024;
    const meter = this.#meter('push', repo, digest, size);
    const source = meter === undefined ? blob : { compressed: async () => {
      // Counted as the transport reads it; a retried upload opens the blob again and counts from 0.
      const s = await blob.compressed();
      meter.reset();
      const counter = new Transform({ transform(chunk: Buffer, _enc, cb) { meter.add(chunk.length); cb(null, chunk); } });
      s.on('error', (err) => counter.destroy(err));
      return s.pipe(counter);
    } };
    const done = await (size > threshold
      ? uploadChunked(t, repo, location, digest, size, source, this.options.chunkSize)
      : uploadMonolithic(t, repo, location, digest, size, source)).catch((err: unknown) => { meter?.fail(); throw err; });
    meter?.end();
    const stored = headerValue(done.headers, 'docker-content-digest');
    await done.body.dump().catch(() => undefined);
    if (stored !== undefined && stored !== digest) {
      throw new RegistryError({
        code: 'REGISTRY', registry: repo.registry, status: done.status, method: 'PUT', url: done.url, temporary: false,
        message: `upload of ${digest} to ${repo.registry}/${repo.repository}: the registry stored ${stored}`,
      });
    }
    this.options.log.debug({ digest, size, repository: repo.repository, durationMs: Date.now() - started }, 'Uploaded blob');
    return 'uploaded';
  }

  /** Transfer events for a big blob (none without a sink or under the size limit): at most every 250 ms, and the end. */
  #meter(direction: 'pull' | 'push', repo: RepositoryRef, digest: Digest, size: number | undefined):
    { add(n: number): void; reset(): void; end(): void; fail(): void } | undefined {
    const sink = this.options.progress;
    if (sink === undefined || size === undefined || size < (this.options.transferMinBytes ?? TRANSFER_MIN_BYTES)) return undefined;
    const repository = `${repo.registry}/${repo.repository}`;
    const id = `${direction} ${repository}@${digest}`;
    const started = Date.now();
    let bytes = 0;
    let last = 0;
    let ended = false;
    const emit = (finished: boolean, failed = false): void => {
      sink({ type: 'transfer', id, direction, repository, digest, bytes, total: size, elapsedMs: Date.now() - started, finished, ...(failed ? { failed } : {}) });
    };
    emit(false);
    return {
      add: (n) => {
        bytes += n;
        const now = Date.now();
        if (now - last >= 250) { last = now; emit(false); }
      },
      reset: () => { bytes = 0; },
      end: () => { if (!ended) { ended = true; emit(true); } },
      fail: () => { if (!ended) { ended = true; emit(true, true); } },
    };
  }

  /** Fails early, with a clear message, when the credentials cannot push to `repo`. */
  async checkPushPermission(repo: RepositoryRef): Promise<void> {
    const t = this.transport(repo.registry);
    let start: TransportResponse;
    try {
      start = await t.request({
        method: 'POST', url: `/v2/${repo.repository}/blobs/uploads/`, headers: { 'content-length': '0' },
        scopes: [pushScope(repo)], expect: [202], what: `checking push permission for ${repo.registry}/${repo.repository}`,
      });
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'AUTH') {
        throw new RegistryError({
          code: 'AUTH', registry: repo.registry, status: err.status, method: err.method, url: err.url, temporary: false,
          diagnostics: err.diagnostics, cause: err,
          message: `no permission to push to ${repo.registry}/${repo.repository}: ${err.message}`,
        });
      }
      throw err;
    }
    await start.body.dump().catch(() => undefined);
    const location = uploadLocation(t, start, repo);
    // Cancel the probe upload; a registry that cannot delete it will purge it later.
    await t.request({ method: 'DELETE', url: location, scopes: [pushScope(repo)], expect: [200, 202, 204, 404, 405] })
      .then((r) => r.body.dump())
      .catch(() => undefined);
  }
}

function manifestPath(ref: Reference): string {
  return `/v2/${ref.repository}/manifests/${manifestIdentifier(ref)}`;
}

function uploadLocation(t: RegistryTransport, res: TransportResponse, repo: RepositoryRef): string {
  const location = headerValue(res.headers, 'location');
  if (location === undefined || location === '') {
    throw new RegistryError({
      code: 'REGISTRY', registry: repo.registry, status: res.status, method: 'POST', url: res.url, temporary: false,
      message: `upload to ${repo.registry}/${repo.repository}: the registry sent no Location header`,
    });
  }
  return t.resolveUrl(location, res.url);
}

function contentType(res: TransportResponse): MediaType | undefined {
  const ct = headerValue(res.headers, 'content-type')?.split(';')[0]?.trim();
  return ct === undefined || ct === '' || ct === 'application/json' || ct === 'text/plain' ? undefined : ct;
}

function embeddedMediaType(bytes: Uint8Array): MediaType | undefined {
  try {
    const u: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    const mt = typeof u === 'object' && u !== null ? (u as Record<string, unknown>)['mediaType'] : undefined;
    return typeof mt === 'string' ? mt : undefined;
  } catch {
    return undefined;
  }
}

async function readSmall(res: TransportResponse, limit: number, what: string, registry: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        res.body.destroy();
        throw new RegistryError({ code: 'REGISTRY', registry, status: res.status, method: 'GET', url: res.url, temporary: false,
          message: `${what}: larger than ${limit} bytes` });
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw err instanceof RegistryError ? err : errorFromNetwork(registry, 'GET', res.url, err);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
