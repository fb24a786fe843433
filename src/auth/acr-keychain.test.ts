// The ACR keychain: host and environment matching, and the AAD → /oauth2/exchange flow against a
// local TEST DOUBLE.
//
// TEST DOUBLE — not Azure AD and not Azure Container Registry. There is no local AAD or ACR server,
// so one HTTP server on 127.0.0.1 plays both ends of the flow: POST /<tenant>/oauth2/v2.0/token
// (reached through AZURE_AUTHORITY_HOST, as azidentity allows) and POST /oauth2/exchange (reached
// through the keychain's exchangeUrl seam). It checks the form fields the real services require and
// answers AAD's error shape ({error, error_description: "AADSTS…"}) for a wrong secret.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BuildError } from '../errors.ts';
import { ACR_USERNAME, acrCloud, acrKeychain, acrPrincipal, jwtExpiry } from './acr-keychain.ts';
import { anonymous } from './keychain.ts';

const REGISTRY = 'myregistry.azurecr.io';
const SECRET = 'aad-client-secret-do-not-print';
const FEDERATED = 'federated-jwt-from-file';
const jwt = (exp: number): string => `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;
const REFRESH = jwt(Date.UTC(2030, 0, 1, 3) / 1000);

interface Double { url: string; forms: { path: string; form: URLSearchParams }[]; server: Server }

async function startAzureDouble(): Promise<Double> {
  const forms: Double['forms'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const path = req.url ?? '/';
      forms.push({ path, form });
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && path === '/tenant-1/oauth2/v2.0/token') {
        const byAssertion = form.get('client_assertion') === FEDERATED
          && form.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
        if (form.get('client_id') !== 'client-1' || (form.get('client_secret') !== SECRET && !byAssertion)) {
          return send(401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided. Trace ID: x' });
        }
        return send(200, { token_type: 'Bearer', expires_in: 3599, access_token: 'aad-access-token' });
      }
      if (req.method === 'POST' && path === '/oauth2/exchange') {
        if (form.get('grant_type') !== 'access_token' || form.get('access_token') !== 'aad-access-token'
          || form.get('service') !== REGISTRY || form.get('tenant') !== 'tenant-1') return send(401, { errors: [{ code: 'UNAUTHORIZED' }] });
        return send(200, { refresh_token: REFRESH });
      }
      send(404, {});
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, forms, server };
}

/** A loopback port nothing listens on (fetch refuses "bad ports" such as 1 before connecting). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('acrCloud', () => {
  const table: readonly [string, string | undefined][] = [
    [REGISTRY, 'https://management.azure.com/.default'],
    ['my-reg.azurecr.cn', 'https://management.chinacloudapi.cn/.default'],
    ['reg.azurecr.us', 'https://management.usgovcloudapi.net/.default'],
    ['reg.azurecr.de', 'https://management.microsoftazure.de/.default'],
    ['REG.AZURECR.IO', 'https://management.azure.com/.default'],
    ['azurecr.io', undefined],
    ['reg.azurecr.io.evil.example', undefined],
    ['reg.azurecr.com', undefined],
    ['mcr.microsoft.com', undefined],
  ];
  for (const [host, scope] of table) it(host, () => assert.equal(acrCloud(host)?.scope, scope));
});

describe('acrPrincipal', () => {
  it('needs a client id, a tenant and a secret or federated token; the secret wins', () => {
    assert.equal(acrPrincipal({ AZURE_CLIENT_ID: 'c', AZURE_CLIENT_SECRET: 's' }), undefined);
    assert.equal(acrPrincipal({ AZURE_CLIENT_ID: 'c', AZURE_TENANT_ID: 't' }), undefined);
    assert.equal(acrPrincipal({ AZURE_CLIENT_ID: 'c', AZURE_TENANT_ID: 't', AZURE_CLIENT_SECRET: 's', AZURE_FEDERATED_TOKEN_FILE: '/f' })?.kind, 'secret');
    assert.deepEqual(acrPrincipal({ AZURE_CLIENT_ID: 'c', AZURE_TENANT_ID: 't', AZURE_FEDERATED_TOKEN_FILE: '/f' }), { kind: 'federated', clientId: 'c', tenantId: 't', tokenFile: '/f' });
  });
  it('reads exp from a JWT only to time the cache', () => {
    assert.equal(jwtExpiry(jwt(100)), 100_000);
    assert.equal(jwtExpiry('opaque'), undefined);
    assert.equal(jwtExpiry('a.!!!.b'), undefined);
  });
});

describe('acrKeychain against the Azure double', () => {
  let double: Double;
  let dir: string;
  before(async () => {
    double = await startAzureDouble();
    dir = await mkdtemp(join(tmpdir(), 'acr-keychain-'));
  });
  after(async () => {
    await new Promise<void>((r) => double.server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });
  const seams = () => ({ exchangeUrl: () => `${double.url}/oauth2/exchange` });
  const spEnv = (secret = SECRET) => ({ AZURE_CLIENT_ID: 'client-1', AZURE_TENANT_ID: 'tenant-1', AZURE_CLIENT_SECRET: secret, AZURE_AUTHORITY_HOST: `${double.url}/` });

  it('is anonymous for other hosts, or without a service principal, and calls nothing', async () => {
    const n = double.forms.length;
    assert.equal(await acrKeychain({ env: spEnv(), ...seams() }).resolve('gcr.io'), anonymous);
    assert.equal(await acrKeychain({ env: { AZURE_CLIENT_ID: 'client-1' }, ...seams() }).resolve(REGISTRY), anonymous);
    assert.equal(double.forms.length, n);
  });

  it('exchanges a client-secret AAD token for an ACR refresh token, cached until near its exp', async () => {
    let clock = Date.UTC(2030, 0, 1, 0);
    const kc = acrKeychain({ env: spEnv(), ...seams(), now: () => clock });
    const n = double.forms.length;
    const auth = await kc.resolve(REGISTRY);
    assert.deepEqual(await auth.authorization(), { username: ACR_USERNAME, password: REFRESH });
    const aad = double.forms[n];
    assert.equal(aad?.form.get('grant_type'), 'client_credentials');
    assert.equal(aad?.form.get('scope'), 'https://management.azure.com/.default');
    await kc.resolve(REGISTRY);
    assert.equal(double.forms.length, n + 2, 'one AAD call and one exchange');
    clock = Date.UTC(2030, 0, 1, 2, 58);
    await auth.authorization();
    assert.equal(double.forms.length, n + 4, 'refreshed shortly before the refresh token expires');
  });

  it('uses a workload-identity token file as the client assertion', async () => {
    const file = join(dir, 'azure-identity-token');
    await writeFile(file, `${FEDERATED}\n`);
    const env = { AZURE_CLIENT_ID: 'client-1', AZURE_TENANT_ID: 'tenant-1', AZURE_FEDERATED_TOKEN_FILE: file, AZURE_AUTHORITY_HOST: double.url };
    const auth = await acrKeychain({ env, ...seams() }).resolve(REGISTRY);
    assert.deepEqual(await auth.authorization(), { username: ACR_USERNAME, password: REFRESH });
  });

  it('fails with one line carrying AAD\'s error code, never the secret', async () => {
    const wrong = 'wrong-secret-do-not-print';
    await assert.rejects(acrKeychain({ env: spEnv(wrong), ...seams() }).resolve(REGISTRY), (err: unknown) => {
      assert.ok(err instanceof BuildError);
      assert.equal(err.code, 'AUTH');
      assert.equal(err.message, `cannot get an ACR token for ${REGISTRY}: Azure AD answered HTTP 401 (invalid_client AADSTS7000215)`);
      assert.ok(!err.message.includes('\n'));
      for (const s of [wrong, SECRET, 'Trace ID']) assert.ok(!`${err.message} ${err.hint ?? ''}`.includes(s), s);
      return true;
    });
  });

  it('names the exchange step when the registry refuses, and a missing token file', async () => {
    await assert.rejects(acrKeychain({ env: spEnv(), exchangeUrl: () => `${double.url}/nope` }).resolve(REGISTRY),
      /^BuildError: cannot get an ACR token for myregistry\.azurecr\.io: the registry's \/oauth2\/exchange answered HTTP 404$/);
    const env = { AZURE_CLIENT_ID: 'client-1', AZURE_TENANT_ID: 'tenant-1', AZURE_FEDERATED_TOKEN_FILE: join(dir, 'absent'), AZURE_AUTHORITY_HOST: double.url };
    await assert.rejects(acrKeychain({ env, ...seams() }).resolve(REGISTRY), /cannot read AZURE_FEDERATED_TOKEN_FILE .*absent \(ENOENT\)$/);
  });

  it('says which endpoint cannot be reached', async () => {
    const port = await closedPort();
    const env = { ...spEnv(), AZURE_AUTHORITY_HOST: `http://127.0.0.1:${port}` };
    await assert.rejects(acrKeychain({ env, ...seams() }).resolve(REGISTRY),
      new RegExp(`^BuildError: cannot get an ACR token for myregistry\\.azurecr\\.io: cannot reach Azure AD at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)$`));
  });
});
