// RUN --mount=type=ssh: a unix socket of ours, with the mode/uid/gid the mount asks for, that either forwards every
// connection to the agent socket the user gave (--ssh ID=SOCKET; --ssh default is $SSH_AUTH_SOCK) or, for
// --ssh ID=KEYFILE[,KEYFILE], is itself an agent serving those keys from memory (key-agent.ts, as BuildKit does).
// The helper binds our socket onto the mount target; nothing of it is ever inside the build root's tree.
import { chmod, chown, readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { parsePrivateKeys, serveAgent, type AgentKey } from './key-agent.ts';

/** What to serve: an agent socket on the executor's host to forward, or private key files for our own agent. */
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

/** The keys of every file (read once per RUN). */
async function loadKeys(files: readonly string[], id: string): Promise<AgentKey[]> {
  const keys: AgentKey[] = [];
  for (const file of files) {
    try {
      keys.push(...parsePrivateKeys(await readFile(file, 'utf8'), file));
    } catch (err) {
      throw new BuildError('BUILD', `--ssh ${id}: cannot load the key ${file}: ${(err as Error).message}`);
    }
  }
  return keys;
}

/** Starts the socket: a forwarder to source.socket, or an agent of ours for source.keys. */
export async function startSshForward(source: SshAgentSource, opts: SshForwardOptions): Promise<SshForward> {
  const keys = 'keys' in source ? await loadKeys(source.keys, opts.id) : undefined;
  const conns = new Set<net.Socket>();
  const server = net.createServer((client) => {
    conns.add(client);
    client.on('close', () => conns.delete(client));
    if (keys !== undefined || !('socket' in source)) { serveAgent(client, keys ?? []); return; }
    const up = net.connect(source.socket);
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
