// Test-only: a real Docker distribution registry (Debian's /usr/bin/docker-registry) on a free
// loopback port, with no auth, htpasswd Basic auth, or token auth (see token-issuer.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTokenIssuer, type TokenIssuer, type TokenUser } from './token-issuer.ts';

const run = promisify(execFile);
const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface StartRegistryOptions {
  readonly auth?: 'none' | 'htpasswd' | 'token';
  readonly users?: readonly TokenUser[];
  /** Location headers relative to the request (http.relativeurls). */
  readonly relativeUrls?: boolean;
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1 (TestRegistry.caFile). */
  readonly tls?: boolean;
}

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  readonly host: string;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Present with auth 'token'. */
  readonly tokenIssuer: TokenIssuer | undefined;
  /** With tls: the PEM certificate clients must trust. */
  readonly caFile: string | undefined;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? 'none';
  const users = opts.users ?? [{ user: 'tester', pass: 'test-password' }];
  const dir = await mkdtemp(join(tmpdir(), 'test-registry-'));
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const logFile = join(dir, 'registry.log');
  let issuer: TokenIssuer | undefined;
  let child: ChildProcess | undefined;
  try {
    let authYaml = '';
    if (auth === 'htpasswd') {
      const lines: string[] = [];
      for (const u of users) lines.push((await run('htpasswd', ['-Bbn', u.user, u.pass], { timeout: 30_000 })).stdout.trim());
      await writeFile(join(dir, 'htpasswd'), lines.join('\n') + '\n');
      authYaml = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (auth === 'token') {
      issuer = await startTokenIssuer(dir, users);
      authYaml = `auth:\n  token:\n    realm: ${issuer.realm}\n    service: ${issuer.service}\n` +
        `    issuer: ${issuer.issuer}\n    rootcertbundle: ${issuer.certFile}\n`;
    }

    let tlsYaml = '';
    let caFile: string | undefined;
    if (opts.tls === true) {
      caFile = join(dir, 'registry-cert.pem');
      const keyFile = join(dir, 'registry-key.pem');
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { timeout: 30_000 });
      tlsYaml = `  tls:\n    certificate: ${caFile}\n    key: ${keyFile}\n`;
    }
    const scheme = opts.tls === true ? 'https' : 'http';

    // The port may be taken between the probe and the registry's bind: try a few.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      const configFile = join(dir, 'config.yml');
      await writeFile(configFile, [
        'version: 0.1',
        'log:',
        '  level: info',
        '  accesslog:',
        '    disabled: false',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${dataDir}`,
        '  delete:',
        '    enabled: true',
        '  maintenance:',
        '    uploadpurging:',
        '      enabled: false',
        'http:',
        `  addr: ${host}`,
        '  secret: test-only-secret',
        `  relativeurls: ${opts.relativeUrls === true ? 'true' : 'false'}`,
        tlsYaml,
        authYaml,
      ].join('\n'));
      const logHandle = await open(logFile, 'a');
      child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', logHandle.fd, logHandle.fd] });
      await logHandle.close();
      const proc = child;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      if (await waitReady(`${scheme}://${host}/v2/`, exited, caFile)) {
        const url = `${scheme}://${host}`;
        const started = issuer;
        return {
          host, url, dataDir, logFile, tokenIssuer: started, caFile,
          stop: async () => {
            await stopChild(proc, exited);
            await started?.stop();
            await rm(dir, { recursive: true, force: true });
          },
        };
      }
      await stopChild(proc, exited);
      child = undefined;
    }
    throw new Error(`docker-registry did not start; see ${logFile}`);
  } catch (err) {
    await issuer?.stop();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Polls /v2/ until it answers 200 or 401 (at most ~10 s), or the process exits. */
async function waitReady(url: string, exited: Promise<void>, caFile: string | undefined): Promise<boolean> {
  let gone = false;
  void exited.then(() => { gone = true; });
  const ca = caFile === undefined ? undefined : await readFile(caFile, 'utf8');
  for (let i = 0; i < 100 && !gone; i++) {
    try {
      const status = await probe(url, ca);
      if (status === 200 || status === 401) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function probe(url: string, ca: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsGet : httpGet)(url, { timeout: 1000, ...(ca === undefined ? {} : { ca }) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
  if (await Promise.race([exited.then(() => 'exited' as const), timer]) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}
