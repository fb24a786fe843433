// One registry host's HTTP transport (go-containerregistry remote/transport): TLS settings, the
// /v2/ ping, Basic or Bearer auth with tokens cached per scope, redirects followed by hand
// (Authorization dropped when the host changes), and every failure turned into a RegistryError.
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, getGlobalDispatcher, request, type Dispatcher } from 'undici';
import { anonymous, basicCredentials, type AuthConfig } from '../auth/keychain.ts';
import { memoise } from '../oci/image-from-parts.ts';
import { parseChallenge, type Challenge } from './challenge.ts';
import type { RegistryOptions } from './options.ts';
import { registryApiHost } from './reference.ts';
import { errorFromNetwork, errorFromResponse, headerValue, readErrorBody, RegistryError, statusLine } from './registry-error.ts';
import { fetchToken, type Token } from './token.ts';

export type RequestBody = Uint8Array | string | (() => Promise<Readable>);

export interface TransportRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path starting with /v2/ or an absolute URL (an upload Location). */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A function body is called again when the request must be re-sent (auth renewal). */
  readonly body?: RequestBody;
  /** Token scopes, e.g. `repository:a/b:pull,push`. */
  readonly scopes: readonly string[];
  /** Statuses that are not errors; others become a RegistryError. */
  readonly expect: readonly number[];
  /** Names the operation in error messages. */
  readonly what?: string;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Dispatcher.ResponseData['body'];
  /** The final URL after redirects. */
  readonly url: string;
}

const MAX_REDIRECTS = 10;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export class RegistryTransport {
  readonly registry: string;
  readonly baseUrl: string;
  readonly #opts: RegistryOptions;
  readonly #tokens = new Map<string, Token>();
  readonly #agent: () => Promise<Agent>;
  readonly #ping: () => Promise<Challenge>;
  readonly #auth: () => Promise<AuthConfig>;
  #challenge: Challenge | undefined;

  constructor(registry: string, opts: RegistryOptions) {
    this.registry = registry;
    this.#opts = opts;
    const scheme = opts.insecureAll === true || opts.insecureRegistries.has(registry) ? 'http' : 'https';
    this.baseUrl = `${scheme}://${registryApiHost(registry)}`;
    this.#agent = memoise(() => this.#makeAgent());
    this.#ping = memoise(() => this.#doPing());
    this.#auth = memoise(async () => {
      const authenticator = await opts.keychain.resolve(registry);
      return authenticator === anonymous ? {} : authenticator.authorization();
    });
  }

  async close(): Promise<void> {
    const agent = await this.#agent().catch(() => undefined);
    await agent?.close();
  }

  /** Sends a request with authentication; re-sends once with fresh credentials on a 401. */
  async request(req: TransportRequest): Promise<TransportResponse> {
    let challenge = this.#challenge ?? await this.#ping();
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.#authorization(challenge, req.scopes, attempt > 0);
      const res = await this.#send(req, authorization);
      // Every body is replayable: streams come from a function that re-opens them.
      if (res.status === 401 && attempt === 0) {
        // The token may have expired, or this registry only challenges some paths.
        const fresh = parseChallenge(res.headers['www-authenticate']);
        await res.body.dump().catch(() => undefined);
        if (fresh !== undefined) challenge = this.#challenge = fresh;
        continue;
      }
      if (!req.expect.includes(res.status)) {
        throw await errorFromResponse({ registry: this.registry, method: req.method, url: res.url, status: res.status,
          headers: res.headers, body: res.body }, req.what);
      }
      return res;
    }
  }

  /** Resolves a Location header (relative or absolute) against the URL that returned it. */
  resolveUrl(location: string, base: string = this.baseUrl): string {
    return new URL(location, base).toString();
  }

  async #send(req: TransportRequest, authorization: string | undefined): Promise<TransportResponse> {
    const agent = await this.#agent();
    let url = this.resolveUrl(req.url);
    const origin = new URL(this.baseUrl).host;
    for (let hop = 0; ; hop++) {
      const sameHost = new URL(url).host === origin;
      const headers: Record<string, string> = { 'user-agent': this.#opts.userAgent, ...req.headers };
      // Credentials go only to the registry itself, never to the blob store it redirects to.
      if (authorization !== undefined && sameHost) headers['authorization'] = authorization;
      const body = typeof req.body === 'function' ? await req.body() : req.body;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: req.method,
          headers,
          ...(body === undefined ? {} : { body }),
          dispatcher: sameHost ? agent : getGlobalDispatcher(),
        });
      } catch (err) {
        if (body !== undefined && typeof body === 'object' && 'destroy' in body && typeof body.destroy === 'function') {
          (body as Readable).destroy();
        }
        throw errorFromNetwork(this.registry, req.method, url, err);
      }
      const location = headerValue(res.headers, 'location');
      if (REDIRECTS.has(res.statusCode) && location !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
        await res.body.dump().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) {
          throw new RegistryError({ code: 'REGISTRY', registry: this.registry, status: res.statusCode, method: req.method, url,
            temporary: false, message: `${req.what ?? `${req.method} ${new URL(url).pathname}`}: more than ${MAX_REDIRECTS} redirects` });
        }
        url = new URL(location, url).toString();
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    }
  }

  async #authorization(challenge: Challenge, scopes: readonly string[], refresh: boolean): Promise<string | undefined> {
    if (challenge.scheme === 'none') return undefined;
    const auth = await this.#auth();
    if (challenge.scheme === 'basic') {
      const creds = basicCredentials(auth);
      return creds === undefined ? undefined : `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    if (auth.registryToken !== undefined && auth.registryToken !== '') return `Bearer ${auth.registryToken}`;
    const allScopes = challenge.scope !== undefined && challenge.scope !== '' && !scopes.includes(challenge.scope)
      ? [...scopes, challenge.scope] : scopes;
    const key = `${challenge.realm} ${allScopes.join(' ')}`;
    const cached = this.#tokens.get(key);
    if (!refresh && cached !== undefined && cached.expiresAt > Date.now()) return `Bearer ${cached.value}`;
    const realmHost = new URL(challenge.realm).host;
    const token = await fetchToken({
      registry: this.registry, realm: challenge.realm, service: challenge.service, scopes: allScopes, auth,
      userAgent: this.#opts.userAgent,
      dispatcher: realmHost === new URL(this.baseUrl).host ? await this.#agent() : getGlobalDispatcher(),
    });
    this.#tokens.set(key, token);
    return `Bearer ${token.value}`;
  }

  async #doPing(): Promise<Challenge> {
    const url = `${this.baseUrl}/v2/`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers: { 'user-agent': this.#opts.userAgent }, dispatcher: await this.#agent() });
    } catch (err) {
      throw errorFromNetwork(this.registry, 'GET', url, err);
    }
    if (res.statusCode === 200) {
      await res.body.dump().catch(() => undefined);
      return this.#challenge = { scheme: 'none' };
    }
    if (res.statusCode === 401) {
      const challenge = parseChallenge(res.headers['www-authenticate']);
      await readErrorBody(res.body);
      if (challenge === undefined) {
        throw new RegistryError({ code: 'AUTH', registry: this.registry, status: 401, method: 'GET', url, temporary: false,
          message: `registry ${this.registry} answered ${statusLine(401)} without a usable WWW-Authenticate challenge` });
      }
      return this.#challenge = challenge;
    }
    throw await errorFromResponse({ registry: this.registry, method: 'GET', url, status: res.statusCode, headers: res.headers,
      body: res.body }, `ping of ${this.registry}`);
  }

  async #makeAgent(): Promise<Agent> {
    const host = this.registry;
    const connect: { ca?: string[]; rejectUnauthorized?: boolean; cert?: Buffer; key?: Buffer } = {};
    const caPath = this.#opts.certificates.get(host);
    if (caPath !== undefined) connect.ca = [...rootCertificates, await readPem(caPath, host, '--registry-certificate')];
    if (this.#opts.skipTlsVerifyAll === true || this.#opts.skipTlsVerifyRegistries.has(host)) connect.rejectUnauthorized = false;
    const client = this.#opts.clientCerts.get(host);
    if (client !== undefined) {
      connect.cert = Buffer.from(await readPem(client.cert, host, '--registry-client-cert'));
      connect.key = Buffer.from(await readPem(client.key, host, '--registry-client-cert'));
    }
    return new Agent({ connect });
  }
}

async function readPem(path: string, host: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new RegistryError({ code: 'REGISTRY', registry: host, status: 0, method: 'GET', url: '', temporary: false,
      message: `${flag} for ${host}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, cause: err });
  }
}
