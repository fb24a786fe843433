import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { staticAuthenticator } from '../auth/keychain.ts';
import { parseChallenge } from './challenge.ts';
import { RegistryClient } from './client.ts';
import { isTemporary, parseRetryAfter, RegistryError } from './registry-error.ts';
import { withRetries } from './retry.ts';
import { sha256 } from '../../test/support/fixture-image.ts';
import { readStream } from '../../test/support/fixture-image.ts';

describe('parseChallenge', () => {
  it('parses Bearer with quoted commas and Basic', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"'),
      { scheme: 'bearer', realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push' });
    assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: 'basic', realm: 'x' });
    assert.equal(parseChallenge('Bearer service="no realm"'), undefined);
    assert.equal(parseChallenge(undefined), undefined);
    assert.equal(parseChallenge(['Basic realm="a"', 'Bearer realm="https://t"'])?.scheme, 'bearer');
  });
});

describe('retry', () => {
  it('parses Retry-After seconds and dates', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  it('retries temporary failures only, up to the limit', async () => {
    const temporary = (): RegistryError => new RegistryError({ code: 'REGISTRY', registry: 'r', status: 503, method: 'GET', url: 'http://r/v2/', temporary: true, message: 'busy' });
    let calls = 0;
    assert.equal(await withRetries(async () => { if (++calls < 3) throw temporary(); return 'ok'; }, { retries: 2, backoff: () => 1 }), 'ok');
    calls = 0;
    await assert.rejects(withRetries(async () => { calls++; throw temporary(); }, { retries: 1, backoff: () => 1 }), /busy/);
    assert.equal(calls, 2);
    calls = 0;
    await assert.rejects(withRetries(async () => { calls++; throw new Error('permanent'); }, { retries: 5, backoff: () => 1 }), /permanent/);
    assert.equal(calls, 1);
    assert.equal(isTemporary(Object.assign(new Error('x'), { code: 'ECONNRESET' })), true);
    assert.equal(isTemporary(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), false);
  });
});

describe('redirects', () => {
  const blob = Buffer.from('blob stored elsewhere');
  const digest = sha256(blob);
  let registry: Server;
  let storage: Server;
  const seenByStorage: IncomingHttpHeaders[] = [];
  let registryHost = '';

  const listen = async (s: Server): Promise<number> => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  };

  before(async () => {
    storage = createServer((req, res) => {
      seenByStorage.push(req.headers);
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.end(blob);
    });
    const storagePort = await listen(storage);
    registry = createServer((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' });
        res.end();
        return;
      }
      if (req.url === `/v2/r/blobs/${digest}`) {
        // 'localhost' is a different host from '127.0.0.1': credentials must not follow.
        res.writeHead(307, { location: `http://localhost:${storagePort}/bucket/blob?sig=secret` });
        res.end();
        return;
      }
      if (req.url?.startsWith('/v2/loop/')) {
        res.writeHead(302, { location: '/v2/loop/again' });
        res.end();
        return;
      }
      res.writeHead(404);
      res.end();
    });
    registryHost = `127.0.0.1:${await listen(registry)}`;
  });
  after(async () => {
    for (const s of [registry, storage]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  const client = (): RegistryClient => new RegistryClient({
    keychain: { resolve: async () => staticAuthenticator({ username: 'u', password: 'p' }) },
    insecureRegistries: new Set([registryHost]), skipTlsVerifyRegistries: new Set(), certificates: new Map(), clientCerts: new Map(),
    retries: 0, userAgent: 'test', log: pino({ level: 'silent' }),
  });

  it('follows a blob redirect to another host without the Authorization header', async () => {
    const c = client();
    const bytes = await readStream(await c.getBlob({ registry: registryHost, repository: 'r' }, digest, blob.length));
    assert.deepEqual(bytes, blob);
    assert.equal(seenByStorage.length, 1);
    assert.equal(seenByStorage[0]?.authorization, undefined);
    await c.close();
  });

  it('stops after 10 redirects with a clear error', async () => {
    const c = client();
    await assert.rejects(c.getBlob({ registry: registryHost, repository: 'loop' }, digest), /more than 10 redirects/);
    await c.close();
  });
});
