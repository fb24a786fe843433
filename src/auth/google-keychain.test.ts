// The Google keychain: host matching, and real google-auth-library ADC against a local TEST DOUBLE.
// google-auth-library reads GOOGLE_APPLICATION_CREDENTIALS from process.env (see google-keychain.ts), so
// these tests set it there and restore it; node --test runs each file in its own process.
//
// TEST DOUBLE — not Google's Security Token Service. There is no local GCP auth server, so the ADC file
// (GOOGLE_APPLICATION_CREDENTIALS) is an `external_account` (workload identity federation) credential
// whose token_url points at a tiny HTTP server on 127.0.0.1. google-auth-library then does what it does
// in a real pod: reads the subject token from credential_source.file and exchanges it at token_url
// (RFC 8693 form POST) for an access token. The double accepts one subject token and answers STS's
// success and error shapes, and the Cloud Resource Manager project lookup ADC discovery makes.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BuildError } from '../errors.ts';
import { googleKeychain, isGoogleRegistry } from './google-keychain.ts';
import { anonymous } from './keychain.ts';

const SUBJECT = 'subject-token-from-the-pod';
const ACCESS = 'ya29.access-token-from-double';

interface Double { url: string; calls: URLSearchParams[]; server: Server }

async function startStsDouble(): Promise<Double> {
  const calls: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      calls.push(form);
      res.setHeader('content-type', 'application/json');
      // ADC discovery also looks up the project of the pool's audience (project number 1).
      if (req.method === 'GET' && req.url === '/v1/projects/1') {
        res.end(JSON.stringify({ projectNumber: '1', projectId: 'test-project' }));
      } else if (req.url !== '/v1/token' || form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') {
        res.writeHead(404).end('{}');
      } else if (form.get('subject_token') !== SUBJECT) {
        res.writeHead(400).end(JSON.stringify({ error: 'invalid_grant', error_description: 'The subject token is invalid.' }));
      } else {
        res.end(JSON.stringify({ access_token: ACCESS, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, server };
}

describe('isGoogleRegistry', () => {
  const table: readonly [string, boolean][] = [
    ['gcr.io', true], ['eu.gcr.io', true], ['us.gcr.io', true], ['asia.gcr.io', true],
    ['us-docker.pkg.dev', true], ['europe-west1-docker.pkg.dev', true], ['GCR.IO', true],
    ['pkg.dev', false], ['gcr.io.evil.example', false], ['evilgcr.io', false], ['gcr.io:443', false],
    ['index.docker.io', false], ['ghcr.io', false],
  ];
  for (const [host, want] of table) it(`${host} → ${want}`, () => assert.equal(isGoogleRegistry(host), want));
});

describe('googleKeychain', () => {
  let double: Double;
  let dir: string;
  const saved = process.env['GOOGLE_APPLICATION_CREDENTIALS'];
  before(async () => {
    double = await startStsDouble();
    dir = await mkdtemp(join(tmpdir(), 'google-keychain-'));
  });
  after(async () => {
    if (saved === undefined) delete process.env['GOOGLE_APPLICATION_CREDENTIALS'];
    else process.env['GOOGLE_APPLICATION_CREDENTIALS'] = saved;
    await new Promise<void>((r) => double.server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  async function adcFile(name: string, subject: string): Promise<string> {
    const subjectFile = join(dir, `${name}.subject`);
    await writeFile(subjectFile, subject);
    const file = join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify({
      type: 'external_account',
      audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/test',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: `${double.url}/v1/token`,
      cloud_resource_manager_url: `${double.url}/v1/projects/`,
      credential_source: { file: subjectFile },
    }));
    return file;
  }

  it('is anonymous for other hosts without looking for credentials', async () => {
    let asked = 0;
    const kc = googleKeychain({ tokenSource: async () => { asked++; return 'x'; } });
    assert.equal(await kc.resolve('index.docker.io'), anonymous);
    assert.equal(await kc.resolve('123456789012.dkr.ecr.us-east-1.amazonaws.com'), anonymous);
    assert.equal(asked, 0);
  });

  it('is anonymous when no Application Default Credentials exist', async () => {
    assert.equal(await googleKeychain({ tokenSource: async () => undefined }).resolve('gcr.io'), anonymous);
  });

  it('gives oauth2accesstoken + the ADC access token, which the library caches', async () => {
    process.env['GOOGLE_APPLICATION_CREDENTIALS'] = await adcFile('good', SUBJECT);
    const kc = googleKeychain();
    const exchanges = (): number => double.calls.filter((f) => f.has('subject_token')).length;
    const n = exchanges();
    const auth = await kc.resolve('us-docker.pkg.dev');
    assert.deepEqual(await auth.authorization(), { username: 'oauth2accesstoken', password: ACCESS });
    assert.deepEqual(await (await kc.resolve('gcr.io')).authorization(), { username: 'oauth2accesstoken', password: ACCESS });
    assert.equal(exchanges(), n + 1, 'one token exchange for both registries');
    assert.equal(double.calls.findLast((f) => f.has('subject_token'))?.get('scope'), 'https://www.googleapis.com/auth/cloud-platform');
  });

  it('fails with one line (status and OAuth error code) when the exchange is refused, without the subject token', async () => {
    const secret = 'stolen-subject-do-not-print';
    process.env['GOOGLE_APPLICATION_CREDENTIALS'] = await adcFile('bad', secret);
    const kc = googleKeychain();
    await assert.rejects(kc.resolve('eu.gcr.io'), (err: unknown) => {
      assert.ok(err instanceof BuildError);
      assert.equal(err.code, 'AUTH');
      assert.match(err.message, /^cannot get a Google access token for eu\.gcr\.io from Application Default Credentials: .*invalid_grant/);
      assert.ok(!err.message.includes('\n'));
      assert.ok(!err.message.includes(secret));
      return true;
    });
  });

  it('names a missing credentials file', async () => {
    process.env['GOOGLE_APPLICATION_CREDENTIALS'] = join(dir, 'absent.json');
    const kc = googleKeychain();
    await assert.rejects(kc.resolve('gcr.io'), /^BuildError: cannot get a Google access token for gcr\.io from Application Default Credentials: cannot read \/.*absent\.json \(ENOENT\)$/);
  });
});
