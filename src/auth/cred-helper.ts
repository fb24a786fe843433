// Runs a Docker credential helper (`docker-credential-<name> get`, server URL on stdin,
// {"Username","Secret"} JSON on stdout). Its output is never put in a message or a log line.
import { spawn } from 'node:child_process';
import { BuildError } from '../errors.ts';
import type { AuthConfig } from './keychain.ts';

export interface HelperEnv {
  /** Environment for the helper; its PATH is where `docker-credential-<name>` is looked up. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Upper bound on a helper's run time. */
  readonly timeoutMs?: number;
}

const MAX_OUTPUT = 64 * 1024;

/** Returns undefined when the helper says it has no credentials for the server. */
export async function runCredentialHelper(name: string, serverUrl: string, seam: HelperEnv): Promise<AuthConfig | undefined> {
  const program = `docker-credential-${name}`;
  const { code, stdout, spawnError } = await new Promise<{ code: number | null; stdout: string; spawnError?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(program, ['get'], {
      env: { ...seam.env },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    // Own timer (not spawn's `timeout`, which outlives a failed spawn and holds the event loop).
    const timer = setTimeout(() => child.kill('SIGKILL'), seam.timeoutMs ?? 30_000);
    timer.unref();
    child.on('exit', () => clearTimeout(timer));
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_OUTPUT) chunks.push(c);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: '', spawnError: err });
    });
    child.on('close', (c) => resolve({ code: c, stdout: Buffer.concat(chunks).toString('utf8') }));
    child.stdin.on('error', () => { /* the helper may exit before reading stdin; 'close' reports it */ });
    child.stdin.end(serverUrl);
  });
  if (spawnError !== undefined) {
    const why = spawnError.code === 'ENOENT' ? 'not found on PATH' : `could not be started (${spawnError.code ?? 'error'})`;
    throw new BuildError('AUTH', `credential helper ${program} ${why}`);
  }
  if (code !== 0) {
    // The helper protocol reports a missing entry as this text on stdout; that is not an error.
    if (stdout.includes('credentials not found')) return undefined;
    throw new BuildError('AUTH', `credential helper ${program} failed for ${serverUrl}: exit status ${code ?? 'killed'}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new BuildError('AUTH', `credential helper ${program} printed something that is not JSON for ${serverUrl}`);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new BuildError('AUTH', `credential helper ${program} printed JSON that is not an object for ${serverUrl}`);
  }
  const { Username: username, Secret: secret } = parsed as Record<string, unknown>;
  if (typeof username !== 'string' || typeof secret !== 'string') {
    throw new BuildError('AUTH', `credential helper ${program} answer for ${serverUrl} lacks string Username and Secret`);
  }
  // Docker's convention: the username '<token>' marks the secret as an identity (refresh) token.
  if (username === '<token>') return { identityToken: secret };
  return { username, password: secret };
}
