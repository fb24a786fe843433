// RUN --mount=type=ssh: a unix socket of ours, with the mode/uid/gid the mount asks for, that forwards every
// connection to an ssh-agent — the socket the user gave (--ssh ID=SOCKET; --ssh default is $SSH_AUTH_SOCK) or,
// for --ssh ID=KEYFILE[,KEYFILE], the system's ssh-agent started for this RUN with the keys loaded by ssh-add.
// The helper binds our socket onto the mount target; nothing of it is ever inside the build root's tree.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, copyFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';

/** What to forward: an agent socket on the executor's host, or private key files to serve through ssh-agent. */
export type SshAgentSource = { readonly socket: string } | { readonly keys: readonly string[] };

export interface SshForwardOptions {
  /** A private (0700) directory for our sockets; short enough for a unix socket path (< 100 bytes). */
  readonly dir: string;
  /** File name of our socket in dir. */
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** The --ssh id, for messages. */
  readonly id: string;
}

export interface SshForward {
  /** Host path of the forwarding socket (bind it onto the target). */
  readonly path: string;
  close(): Promise<void>;
}

const startTimeoutMs = 10_000;

function toolEnv(extra: Record<string, string> = {}): Record<string, string> {
  // Nothing of the executor's environment beyond PATH; never a passphrase prompt.
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SSH_ASKPASS_REQUIRE: 'never', ...extra };
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('close', () => resolve()));
}

/** ssh-agent -D -a PATH; resolves once it listens (it prints "echo Agent pid N;" after binding). */
async function startAgent(path: string, id: string): Promise<ChildProcess> {
  const child = spawn('ssh-agent', ['-D', '-a', path], { stdio: ['ignore', 'pipe', 'pipe'], env: toolEnv() });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('it did not start within 10 s')), startTimeoutMs);
      const done = (err?: Error): void => { clearTimeout(timer); if (err === undefined) resolve(); else reject(err); };
      child.once('error', (err) => done((err as NodeJS.ErrnoException).code === 'ENOENT'
        ? new Error('ssh-agent is not installed (--ssh ID=KEYFILE needs ssh-agent and ssh-add on PATH; --ssh ID=SOCKET does not)')
        : err));
      child.once('exit', (code) => done(new Error(`it exited with ${code ?? 'a signal'}: ${out.trim()}`)));
      child.stdout?.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('Agent pid')) done(); });
      child.stderr?.on('data', (c: Buffer) => { out += c.toString(); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw new BuildError('BUILD', `--ssh ${id}: cannot start ssh-agent: ${(err as Error).message}`);
  }
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** Copies each key to dir at 0600 (ssh-add refuses group/world-readable files, e.g. Kubernetes secret volumes) and loads it. */
async function addKeys(agentPath: string, keys: readonly string[], dir: string, id: string): Promise<void> {
  for (const [i, key] of keys.entries()) {
    const copy = join(dir, `key-${i}`);
    try {
      await copyFile(key, copy);
      await chmod(copy, 0o600);
      const child = spawn('ssh-add', ['-q', copy], {
        stdio: ['ignore', 'ignore', 'pipe'], env: toolEnv({ SSH_AUTH_SOCK: agentPath }), detached: true,
      });
      let err = '';
      child.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c) => resolve(c));
      });
      if (code !== 0) {
        const why = err.split(copy).join(key).trim().split('\n').pop() ?? '';
        throw new Error(why === '' ? `ssh-add exited with ${code ?? 'a signal'}` : why);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' && e.syscall?.startsWith('spawn') === true ? 'ssh-add is not installed' : e.message;
      throw new BuildError('BUILD', `--ssh ${id}: cannot load the key ${key}: ${why}`);
    } finally {
      await rm(copy, { force: true });
    }
  }
}

/** Starts the forwarding socket (and, for key files, the agent behind it). */
export async function startSshForward(source: SshAgentSource, opts: SshForwardOptions): Promise<SshForward> {
  let agent: ChildProcess | undefined;
  let upstream: string;
  if ('socket' in source) {
    upstream = source.socket;
  } else {
    upstream = join(opts.dir, `agent-${opts.name}`);
    agent = await startAgent(upstream, opts.id);
    try {
      await addKeys(upstream, source.keys, opts.dir, opts.id);
    } catch (err) {
      agent.kill('SIGTERM');
      await waitExit(agent);
      throw err;
    }
  }
  const conns = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(upstream);
    conns.add(client);
    conns.add(up);
    const end = (): void => {
      client.destroy();
      up.destroy();
      conns.delete(client);
      conns.delete(up);
    };
    for (const s of [client, up]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(up);
    up.pipe(client);
  });
  const path = join(opts.dir, opts.name);
  const close = async (): Promise<void> => {
    for (const s of conns) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (agent !== undefined) {
      agent.kill('SIGTERM');
      await waitExit(agent);
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    if (process.getuid?.() === 0) await chown(path, opts.uid, opts.gid);
    await chmod(path, opts.mode);
  } catch (err) {
    await close().catch(() => undefined);
    throw new BuildError('BUILD', `--ssh ${opts.id}: cannot create the agent socket ${path}: ${(err as Error).message}`);
  }
  return { path, close };
}
