// Azure Container Registry from service-principal or workload-identity environment variables, as
// kaniko's vendored docker-credential-acr-env:
//   1. an Azure AD access token for the cloud's management scope — client_credentials with
//      AZURE_CLIENT_SECRET, or a client assertion from AZURE_FEDERATED_TOKEN(_FILE) (AKS workload
//      identity projects the file and rotates it, so it is read on every fetch);
//   2. POST https://<registry>/oauth2/exchange (grant_type=access_token) → an ACR refresh token;
//   3. username 00000000-0000-0000-0000-000000000000, password the refresh token, which the registry's
//      token endpoint accepts as Basic credentials. Cached until shortly before it expires.
import { readFile } from 'node:fs/promises';
import { BuildError } from '../errors.ts';
import type { HelperEnv } from './cred-helper.ts';
import { anonymous, type Authenticator, type Keychain } from './keychain.ts';
import { tokenCache, type Expiring } from './token-cache.ts';

export interface AcrKeychainOptions {
  readonly env: HelperEnv['env'];
  /** The exchange endpoint for a registry; by default https://<registry>/oauth2/exchange (tests: a double). */
  readonly exchangeUrl?: (registry: string) => string;
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

export const ACR_USERNAME = '00000000-0000-0000-0000-000000000000';

interface AzureCloud {
  readonly authorityHost: string;
  readonly scope: string;
}

// Each registry suffix lives in one Azure cloud, with its own AAD authority and management scope.
const CLOUDS: Readonly<Record<string, AzureCloud>> = {
  io: { authorityHost: 'https://login.microsoftonline.com', scope: 'https://management.azure.com/.default' },
  cn: { authorityHost: 'https://login.chinacloudapi.cn', scope: 'https://management.chinacloudapi.cn/.default' },
  us: { authorityHost: 'https://login.microsoftonline.us', scope: 'https://management.usgovcloudapi.net/.default' },
  de: { authorityHost: 'https://login.microsoftonline.de', scope: 'https://management.microsoftazure.de/.default' },
};

/** The Azure cloud of an `<name>.azurecr.{io,cn,de,us}` host, or undefined for any other host. */
export function acrCloud(registry: string): AzureCloud | undefined {
  const m = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*\.azurecr\.(io|cn|de|us)$/.exec(registry.toLowerCase());
  return m?.[2] === undefined ? undefined : CLOUDS[m[2]];
}

type Principal =
  | { readonly kind: 'secret'; readonly clientId: string; readonly tenantId: string; readonly secret: string }
  | { readonly kind: 'federated'; readonly clientId: string; readonly tenantId: string; readonly token?: string; readonly tokenFile?: string };

/** The identity the environment describes, or undefined when it describes none (then: anonymous). */
export function acrPrincipal(env: HelperEnv['env']): Principal | undefined {
  const clientId = env['AZURE_CLIENT_ID'];
  const tenantId = env['AZURE_TENANT_ID'];
  if (!clientId || !tenantId) return undefined;
  const secret = env['AZURE_CLIENT_SECRET'];
  if (secret) return { kind: 'secret', clientId, tenantId, secret };
  const token = env['AZURE_FEDERATED_TOKEN'];
  if (token) return { kind: 'federated', clientId, tenantId, token };
  const tokenFile = env['AZURE_FEDERATED_TOKEN_FILE'];
  if (tokenFile) return { kind: 'federated', clientId, tenantId, tokenFile };
  return undefined;
}

export function acrKeychain(options: AcrKeychainOptions): Keychain {
  const cache = tokenCache(options.now === undefined ? {} : { now: options.now });
  const now = options.now ?? Date.now;
  return {
    async resolve(registry: string): Promise<Authenticator> {
      const cloud = acrCloud(registry);
      const principal = acrPrincipal(options.env);
      if (cloud === undefined || principal === undefined) return anonymous;
      const fetch = (): Promise<Expiring> => acrRefreshToken(registry, cloud, principal, options, now);
      await cache.get(registry, fetch);
      return { authorization: async () => (await cache.get(registry, fetch)) ?? {} };
    },
  };
}

async function acrRefreshToken(registry: string, cloud: AzureCloud, p: Principal, options: AcrKeychainOptions, now: () => number): Promise<Expiring> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const authority = (options.env['AZURE_AUTHORITY_HOST'] || cloud.authorityHost).replace(/\/+$/, '');
  const form = new URLSearchParams({ client_id: p.clientId, scope: cloud.scope, grant_type: 'client_credentials' });
  if (p.kind === 'secret') form.set('client_secret', p.secret);
  else {
    form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    form.set('client_assertion', p.token ?? (await readFederatedToken(registry, p.tokenFile ?? '')));
  }
  const tokenUrl = `${authority}/${encodeURIComponent(p.tenantId)}/oauth2/v2.0/token`;
  const aad = await postForm(registry, 'Azure AD', tokenUrl, form, timeoutMs);
  const accessToken = stringField(aad, 'access_token');
  if (accessToken === undefined) throw failure(registry, 'Azure AD answered without an access_token');

  const exchangeUrl = options.exchangeUrl?.(registry) ?? `https://${registry}/oauth2/exchange`;
  const exchange = new URLSearchParams({ grant_type: 'access_token', service: registry, tenant: p.tenantId, access_token: accessToken });
  const acr = await postForm(registry, 'the registry\'s /oauth2/exchange', exchangeUrl, exchange, timeoutMs);
  const refreshToken = stringField(acr, 'refresh_token');
  if (refreshToken === undefined) throw failure(registry, 'the registry\'s /oauth2/exchange answered without a refresh_token');
  return { config: { username: ACR_USERNAME, password: refreshToken }, expiresAt: jwtExpiry(refreshToken) ?? now() + 60 * 60_000 };
}

async function readFederatedToken(registry: string, file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw failure(registry, `cannot read AZURE_FEDERATED_TOKEN_FILE ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
  }
}

/** POSTs a form and returns the JSON object answered; any failure is one line naming `who`, no body text. */
async function postForm(registry: string, who: string, url: string, form: URLSearchParams, timeoutMs: number): Promise<Record<string, unknown>> {
  const origin = new URL(url).origin;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    // fetch wraps the socket error: its code (ECONNREFUSED), else its short message ("bad port").
    const e = err as Error & { cause?: { code?: unknown; message?: unknown } };
    const code = typeof e.cause?.code === 'string' ? e.cause.code
      : e.name === 'TimeoutError' ? 'timed out'
      : typeof e.cause?.message === 'string' && e.cause.message.length < 80 ? e.cause.message : 'network error';
    throw new BuildError('NETWORK', `cannot get an ACR token for ${registry}: cannot reach ${who} at ${origin} (${code})`, { cause: err });
  }
  const text = (await res.text()).slice(0, 64 * 1024);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const json = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (!res.ok) {
    // AAD's `error` (invalid_client) and AADSTS code say what is wrong; its description can quote the
    // client id and trace ids, so it is left out. ACR's answer has no more than its status to offer.
    const code = json === undefined ? undefined : stringField(json, 'error');
    const aadsts = json === undefined ? undefined : /AADSTS\d+/.exec(stringField(json, 'error_description') ?? '')?.[0];
    const detail = [code, aadsts].filter((s) => s !== undefined).join(' ');
    throw failure(registry, `${who} answered HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
  }
  if (json === undefined) throw failure(registry, `${who} answered with something that is not a JSON object`);
  return json;
}

function stringField(o: Record<string, unknown>, name: string): string | undefined {
  const v = o[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function failure(registry: string, what: string, cause?: unknown): BuildError {
  return new BuildError('AUTH', `cannot get an ACR token for ${registry}: ${what}`, {
    ...(cause === undefined ? {} : { cause }),
    hint: 'check AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, and the identity\'s AcrPull/AcrPush role',
  });
}

/** The `exp` claim of a JWT, read only to time the cache (the registry verifies the token, not us). */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const exp = typeof claims === 'object' && claims !== null ? (claims as { exp?: unknown }).exp : undefined;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
