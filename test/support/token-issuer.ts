// Test-only: an in-process token server for docker-registry's `auth: token` mode. It checks Basic
// credentials (or an OAuth2 refresh token) and grants the requested scope actions in an ES256 JWT
// whose x5c header carries the self-signed certificate the registry trusts (rootcertbundle).
import { execFile } from 'node:child_process';
import { randomUUID, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TokenUser {
  readonly user: string;
  readonly pass: string;
}

export interface IssuedToken {
  readonly method: string;
  readonly user: string | undefined;
  readonly scopes: readonly string[];
  readonly status: number;
}

export interface TokenIssuer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM file for the registry's rootcertbundle. */
  readonly certFile: string;
  /** Every token request, for assertions. */
  readonly log: IssuedToken[];
  /** refresh token -> user, for the OAuth2 POST form. */
  readonly refreshTokens: Map<string, string>;
  stop(): Promise<void>;
}

export async function startTokenIssuer(dir: string, users: readonly TokenUser[]): Promise<TokenIssuer> {
  const certFile = join(dir, 'token-cert.pem');
  const keyFile = join(dir, 'token-key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=test-token-issuer'], { timeout: 30_000 });
  const keyPem = await readFile(keyFile, 'utf8');
  const certDer = new X509Certificate(await readFile(certFile)).raw.toString('base64');
  const service = 'test-registry';
  const issuer = 'test-issuer';
  const log: IssuedToken[] = [];
  const refreshTokens = new Map<string, string>();

  const makeJwt = (subject: string, scopes: readonly string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const first = s.indexOf(':');
      const last = s.lastIndexOf(':');
      if (first < 0 || last <= first) return [];
      return [{ type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) }];
    });
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const header = b64({ typ: 'JWT', alg: 'ES256', x5c: [certDer] });
    const claims = b64({ iss: issuer, sub: subject, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access });
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key: keyPem, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${signature.toString('base64url')}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token');
    let user: string | undefined;
    let scopes: string[] = url.searchParams.getAll('scope');
    let denied = false;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      user = refreshTokens.get(form.get('refresh_token') ?? '');
      denied = user === undefined;
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    } else {
      const header = req.headers.authorization;
      if (header !== undefined) {
        const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const name = decoded.slice(0, colon);
        const pass = decoded.slice(colon + 1);
        denied = !users.some((u) => u.user === name && u.pass === pass);
        user = denied ? undefined : name;
      }
    }
    const status = denied ? 401 : 200;
    log.push({ method: req.method ?? 'GET', user, scopes, status });
    if (denied) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    // Anonymous callers get a token with no access, like a real server for a private registry.
    const token = makeJwt(user ?? '', user === undefined ? [] : scopes);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    log,
    refreshTokens,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
