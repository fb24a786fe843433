// Bearer token exchange (distribution's token spec): GET realm?service&scope with Basic
// credentials, or the OAuth2 POST form when the keychain holds an identity (refresh) token.
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { basicCredentials, type AuthConfig } from '../auth/keychain.ts';
import { redactUrl } from '../redact.ts';
import { authFailureMessage, errorFromNetwork, errorFromResponse, readErrorBody, RegistryError } from './registry-error.ts';

export interface Token {
  readonly value: string;
  /** Epoch ms after which the token is not reused. */
  readonly expiresAt: number;
}

export interface TokenRequest {
  readonly registry: string;
  readonly realm: string;
  readonly service: string | undefined;
  readonly scopes: readonly string[];
  readonly auth: AuthConfig;
  readonly userAgent: string;
  readonly dispatcher: Dispatcher;
  readonly now?: () => number;
}

const MAX_TOKEN_RESPONSE = 1024 * 1024;

export async function fetchToken(req: TokenRequest): Promise<Token> {
  if (req.auth.identityToken !== undefined && req.auth.identityToken !== '') {
    const viaPost = await postForToken(req, req.auth.identityToken);
    if (viaPost !== undefined) return viaPost;
    // The server has no OAuth2 endpoint (404/405): docker sends the refresh token as Basic '<token>'.
    return getToken(req, { username: '<token>', password: req.auth.identityToken });
  }
  return getToken(req, basicCredentials(req.auth));
}

async function getToken(req: TokenRequest, creds: { username: string; password: string } | undefined): Promise<Token> {
  const url = new URL(req.realm);
  if (req.service !== undefined) url.searchParams.set('service', req.service);
  for (const scope of req.scopes) url.searchParams.append('scope', scope);
  const headers: Record<string, string> = { 'user-agent': req.userAgent };
  if (creds !== undefined) {
    headers['authorization'] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  }
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, { method: 'GET', headers, dispatcher: req.dispatcher });
  } catch (err) {
    throw errorFromNetwork(req.registry, 'GET', url.toString(), err);
  }
  return readTokenResponse(req, 'GET', url.toString(), res);
}

async function postForToken(req: TokenRequest, refreshToken: string): Promise<Token | undefined> {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'kaniko' });
  if (req.service !== undefined) form.set('service', req.service);
  if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
  let res: Dispatcher.ResponseData;
  try {
    res = await request(req.realm, {
      method: 'POST',
      headers: { 'user-agent': req.userAgent, 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      dispatcher: req.dispatcher,
    });
  } catch (err) {
    throw errorFromNetwork(req.registry, 'POST', req.realm, err);
  }
  if (res.statusCode === 404 || res.statusCode === 405) {
    await res.body.dump();
    return undefined;
  }
  return readTokenResponse(req, 'POST', req.realm, res);
}

async function readTokenResponse(req: TokenRequest, method: string, url: string, res: Dispatcher.ResponseData): Promise<Token> {
  if (res.statusCode === 401 || res.statusCode === 403) {
    await readErrorBody(res.body);
    throw new RegistryError({
      code: 'AUTH', registry: req.registry, status: res.statusCode, method, url, temporary: false,
      message: authFailureMessage(req.registry, res.statusCode),
    });
  }
  if (res.statusCode !== 200) {
    throw await errorFromResponse({ registry: req.registry, method, url, status: res.statusCode, headers: res.headers, body: res.body },
      `token request to ${redactUrl(req.realm)}`);
  }
  const text = await readLimited(res.body);
  let u: unknown;
  try {
    u = JSON.parse(text);
  } catch {
    throw tokenError(req, method, url, res.statusCode, 'the answer is not JSON');
  }
  const o = typeof u === 'object' && u !== null ? (u as Record<string, unknown>) : {};
  const value = typeof o['token'] === 'string' && o['token'] !== '' ? o['token']
    : typeof o['access_token'] === 'string' ? o['access_token'] : undefined;
  if (value === undefined || value === '') throw tokenError(req, method, url, res.statusCode, 'the answer has no token');
  // The spec's default lifetime is 60 s; renew a little early so a token never expires in flight.
  const lifetime = typeof o['expires_in'] === 'number' && o['expires_in'] > 0 ? o['expires_in'] : 60;
  const now = (req.now ?? Date.now)();
  return { value, expiresAt: now + Math.max(1, lifetime - 10) * 1000 };
}

function tokenError(req: TokenRequest, method: string, url: string, status: number, why: string): RegistryError {
  return new RegistryError({
    code: 'AUTH', registry: req.registry, status, method, url, temporary: false,
    message: `token server ${redactUrl(req.realm)} for ${req.registry}: ${why}`,
  });
}

async function readLimited(body: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += b.length;
    if (size > MAX_TOKEN_RESPONSE) throw new Error('token response larger than 1 MiB');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
