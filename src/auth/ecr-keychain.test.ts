// The ECR keychain: host matching, and the real AWS SDK against a local TEST DOUBLE of the ECR API.
//
// TEST DOUBLE — not Amazon ECR. There is no local ECR server, so a tiny HTTP server on 127.0.0.1
// speaks the one call the keychain makes (awsJson1_1, X-Amz-Target
// AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken). It does not verify SigV4 signatures;
// it only reads the access key id from the Authorization header and refuses unknown ones the way ECR
// does (400 UnrecognizedClientException).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BuildError } from '../errors.ts';
import { ecrClientConfig, ecrKeychain, parseEcrRegistry } from './ecr-keychain.ts';
import { anonymous } from './keychain.ts';

const HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const GOOD_KEY = 'AKIDGOODKEY';
const SECRET = 'ecr-secret-key-do-not-print';
const PASSWORD = 'ecr-password-from-double';

interface Double { endpoint: string; calls: { target: string; keyId: string; body: string }[]; server: Server }

async function startEcrDouble(): Promise<Double> {
  const calls: Double['calls'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const keyId = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const target = String(req.headers['x-amz-target'] ?? '');
      calls.push({ target, keyId, body: Buffer.concat(chunks).toString('utf8') });
      const send = (status: number, body: unknown, type?: string): void => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...(type ? { 'x-amzn-errortype': type } : {}) });
        res.end(JSON.stringify(body));
      };
      if (target !== 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken') return send(400, { __type: 'UnknownOperationException' }, 'UnknownOperationException');
      if (keyId !== GOOD_KEY) return send(400, { __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' }, 'UnrecognizedClientException');
      send(200, { authorizationData: [{
        authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString('base64'),
        expiresAt: Date.UTC(2030, 0, 1) / 1000,
        proxyEndpoint: `https://${HOST}`,
      }] });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

describe('parseEcrRegistry', () => {
  const table: readonly [string, ReturnType<typeof parseEcrRegistry>][] = [
    [HOST, { accountId: '123456789012', region: 'eu-west-1', fips: false }],
    ['123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn', { accountId: '123456789012', region: 'cn-north-1', fips: false }],
    ['123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com', { accountId: '123456789012', region: 'us-gov-west-1', fips: true }],
    ['123456789012.DKR.ECR.us-east-1.AMAZONAWS.COM', { accountId: '123456789012', region: 'us-east-1', fips: false }],
    ['12345678901.dkr.ecr.us-east-1.amazonaws.com', undefined],          // 11 digits
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example', undefined],
    ['evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com', undefined],
    ['public.ecr.aws', undefined],
    ['gcr.io', undefined],
    [`${HOST}:443`, undefined],
  ];
  for (const [host, want] of table) it(host, () => assert.deepEqual(parseEcrRegistry(host), want));
});

describe('ecrClientConfig', () => {
  it('takes keys, session token and profile from env; region from the host; FIPS endpoints for -fips hosts', () => {
    const ecr = parseEcrRegistry('123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com');
    assert.ok(ecr);
    const c = ecrClientConfig({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_SESSION_TOKEN: 'T', AWS_PROFILE: 'p' }, ecr);
    assert.deepEqual(c, { region: 'us-gov-west-1', useFipsEndpoint: true, profile: 'p', credentials: { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'T' } });
    const ecr2 = parseEcrRegistry(HOST);
    assert.ok(ecr2);
    assert.deepEqual(ecrClientConfig({ AWS_ACCESS_KEY_ID: 'AK' }, ecr2, 'http://x'), { region: 'eu-west-1', endpoint: 'http://x' });
  });
});

describe('ecrKeychain against the ECR double', () => {
  let double: Double;
  before(async () => { double = await startEcrDouble(); });
  after(() => new Promise<void>((r) => double.server.close(() => r())));
  const env = { AWS_ACCESS_KEY_ID: GOOD_KEY, AWS_SECRET_ACCESS_KEY: SECRET };

  it('is anonymous for other hosts without calling AWS', async () => {
    const before = double.calls.length;
    const kc = ecrKeychain({ env, endpoint: double.endpoint });
    assert.equal(await kc.resolve('index.docker.io'), anonymous);
    assert.equal(await kc.resolve('myregistry.azurecr.io'), anonymous);
    assert.equal(double.calls.length, before);
  });

  it('turns GetAuthorizationToken into AWS:<password> and caches it until near expiry', async () => {
    let clock = Date.UTC(2029, 11, 31, 12);
    const kc = ecrKeychain({ env, endpoint: double.endpoint, now: () => clock });
    const start = double.calls.length;
    const auth = await kc.resolve(HOST);
    assert.notEqual(auth, anonymous);
    assert.deepEqual(await auth.authorization(), { username: 'AWS', password: PASSWORD });
    assert.deepEqual(JSON.parse(double.calls.at(-1)?.body ?? '{}'), { registryIds: ['123456789012'] });
    await kc.resolve(HOST);
    await auth.authorization();
    assert.equal(double.calls.length, start + 1, 'one call while the token is fresh');
    clock = Date.UTC(2029, 11, 31, 23, 58); // two minutes before expiry: inside the refresh margin
    await auth.authorization();
    assert.equal(double.calls.length, start + 2, 'refreshed before it expires');
  });

  it('fails with one line naming the host and the AWS error, without the secret key', async () => {
    const kc = ecrKeychain({ env: { AWS_ACCESS_KEY_ID: 'AKIDUNKNOWN', AWS_SECRET_ACCESS_KEY: SECRET }, endpoint: double.endpoint });
    await assert.rejects(kc.resolve(HOST), (err: unknown) => {
      assert.ok(err instanceof BuildError);
      assert.equal(err.code, 'AUTH');
      assert.equal(err.message, `cannot get an ECR token for ${HOST}: the access key is not known (bad credentials) (HTTP 400)`);
      assert.ok(!`${err.message} ${err.hint ?? ''}`.includes(SECRET));
      return true;
    });
  });

  it('says so when the ECR API cannot be reached', async () => {
    const kc = ecrKeychain({ env, endpoint: 'http://127.0.0.1:1' });
    await assert.rejects(kc.resolve(HOST), /^BuildError: cannot get an ECR token for .*: cannot reach the ECR API in eu-west-1 \(ECONNREFUSED\)$/);
  });

  it('is anonymous when the AWS default chain finds no credentials at all', async () => {
    const none = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const kc = ecrKeychain({ env: {}, fetchToken: () => Promise.reject(none) });
    assert.equal(await kc.resolve(HOST), anonymous);
  });
});
