// Test-only: bare repositories served over smart HTTP by git's own CGI (`git http-backend`) behind a
// small Node server on 127.0.0.1, with optional Basic auth. Plus helpers to build fixture repositories.
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BACKEND = '/usr/lib/git-core/git-http-backend';

export interface GitServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** 127.0.0.1:PORT (what follows git:// in a kaniko context). */
  readonly host: string;
  /** Request lines seen, e.g. 'GET /repo.git/info/refs?service=git-upload-pack 200'. */
  readonly requests: string[];
  /** Authorization headers seen (to prove what was sent; never printed by tests). */
  readonly authHeaders: string[];
  close(): Promise<void>;
}

export interface GitServerOptions {
  /** Directory holding bare repositories (`<name>.git`). */
  readonly projectRoot: string;
  /** Require Basic auth with these credentials. */
  readonly auth?: { readonly username: string; readonly password: string };
}

function authorized(req: IncomingMessage, auth: GitServerOptions['auth']): string | undefined {
  if (auth === undefined) return '';
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString();
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const pass = colon < 0 ? '' : decoded.slice(colon + 1);
  return user === auth.username && pass === auth.password ? user : undefined;
}

function serveCgi(req: IncomingMessage, res: ServerResponse, opts: GitServerOptions, user: string, done: (status: number) => void): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const child = spawn(BACKEND, [], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: opts.projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      // Lets a client fetch a commit id no branch points at (kaniko's "#<commit>" fetch).
      GIT_CONFIG_PARAMETERS: "'uploadpack.allowAnySHA1InWant=true'",
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-encoding'] !== undefined ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(req.headers['git-protocol'] !== undefined ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      REMOTE_USER: user,
      REMOTE_ADDR: '127.0.0.1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  let status = 200;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) { res.write(chunk); return; }
    head = Buffer.concat([head, chunk]);
    const sep = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n');
    if (sep < 0) return;
    const sepLen = head[sep] === 0x0d ? 4 : 2;
    const lines = head.subarray(0, sep).toString().split(/\r?\n/);
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else res.setHeader(name, value);
    }
    res.statusCode = status;
    headersDone = true;
    res.write(head.subarray(sep + sepLen));
  });
  child.stderr.resume();
  child.on('close', () => {
    if (!headersDone) { res.statusCode = 500; }
    res.end();
    done(status);
  });
}

export async function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const requests: string[] = [];
  const authHeaders: string[] = [];
  const server = createServer((req, res) => {
    if (req.headers.authorization !== undefined) authHeaders.push(req.headers.authorization);
    const user = authorized(req, opts.auth);
    if (user === undefined) {
      requests.push(`${req.method} ${req.url} 401`);
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('unauthorized\n');
      return;
    }
    serveCgi(req, res, opts, user, (status) => { requests.push(`${req.method} ${req.url} ${status}`); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    authHeaders,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Runs git with a fixed identity and dates, so commit ids are stable within a test run. */
export async function runGit(cwd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run('git', [...args], {
    cwd,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: cwd,
      GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com',
      GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z', GIT_CONFIG_NOSYSTEM: '1',
    },
  });
  return stdout.trim();
}

/** Writes files (relative path → content) into a work tree and commits them; returns the commit id. */
export async function commitFiles(workTree: string, files: Readonly<Record<string, string>>, message: string): Promise<string> {
  for (const [rel, content] of Object.entries(files)) {
    const full = join(workTree, rel);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
  await runGit(workTree, ['add', '-A']);
  await runGit(workTree, ['commit', '-q', '-m', message]);
  return runGit(workTree, ['rev-parse', 'HEAD']);
}

/** A new work tree with `git init -b main`. */
export async function initWorkTree(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runGit(dir, ['init', '-q', '-b', 'main']);
}

/** Publishes a work tree as <projectRoot>/<name>.git (bare, all branches and tags, plus extra refs). */
export async function publishBare(workTree: string, projectRoot: string, name: string, extraRefs: Readonly<Record<string, string>> = {}): Promise<string> {
  const bare = join(projectRoot, `${name}.git`);
  for (const [ref, oid] of Object.entries(extraRefs)) await runGit(workTree, ['update-ref', ref, oid]);
  // --mirror: every ref (refs/pull/* too), as a forge serves them.
  await runGit(projectRoot, ['clone', '-q', '--mirror', '--no-local', workTree, bare]);
  return bare;
}
