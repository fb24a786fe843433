// ADD of a git repository (BuildKit's git source): `https://host/owner/repo.git#REF[:SUBDIR]`, `git@host:owner/repo.git`,
// `ssh://…` and `git://…`. http(s) goes through isomorphic-git with the git-context credentials (src/context/git.ts);
// ssh and the git protocol through the system `git` (isomorphic-git speaks neither), ssh with the `--ssh default`
// agent. The checkout lands in a scratch directory, `.git` is dropped unless --keep-git-dir=true, and COPY writes it.
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { cloneGitUrl, resolveGitUrlRef } from '../context/git.ts';
import { BuildError } from '../errors.ts';
import type { Log } from '../log.ts';
import { resolveInRoot } from '../rootfs/resolve.ts';
import { startSshForward, type SshForward } from '../sandbox/ssh-agent.ts';
import type { SshSource } from './command.ts';

export interface GitAddSource {
  /** The repository URL as git takes it (for ssh/git transports) or as an http(s) URL. */
  readonly url: string;
  readonly transport: 'http' | 'ssh' | 'git';
  readonly ref?: string;
  readonly subdir?: string;
  /** The URL with userinfo hidden, for messages. */
  readonly shown: string;
}

/** BuildKit's git references (gitutil.ParseGitRef): git@, git://, ssh://, or an http(s) URL whose path ends in .git. */
export function isGitSource(word: string): boolean {
  if (/^(git@|git:\/\/|ssh:\/\/)/i.test(word)) return true;
  if (!/^https?:\/\//i.test(word)) return false;
  const noFragment = word.split('#')[0] ?? '';
  return /\.git\/?$/i.test(noFragment.split('?')[0] ?? '');
}

/** `URL#REF:SUBDIR` (either part optional) → the parts. */
export function parseGitAddSource(word: string): GitAddSource {
  const hash = word.indexOf('#');
  const url = hash < 0 ? word : word.slice(0, hash);
  const fragment = hash < 0 ? '' : word.slice(hash + 1);
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  const transport = /^https?:\/\//i.test(url) ? 'http' : /^git:\/\//i.test(url) ? 'git' : 'ssh';
  const shown = url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');
  if (/^-/u.test(ref) || /\.\./u.test(ref)) throw new BuildError('BUILD', `ADD ${shown}: invalid git ref "${ref}"`);
  return { url, transport, shown, ...(ref === '' ? {} : { ref }), ...(subdir === '' || subdir === '/' ? {} : { subdir }) };
}

/** --checksum for a git source: the commit id (or a prefix of it, as BuildKit compares). */
export function parseGitChecksum(text: string): string {
  if (!/^[0-9a-f]{7,40}$/iu.test(text)) {
    throw new BuildError('BUILD', `invalid --checksum ${JSON.stringify(text)} for a git source: expected a commit id (7 to 40 hex digits)`);
  }
  return text.toLowerCase();
}

export interface GitFetchDeps {
  /** GIT_TOKEN, GIT_USERNAME, GIT_PASSWORD, GIT_SSH_COMMAND from the executor's environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The `--ssh default` agent (ssh transports). */
  readonly ssh?: SshSource | undefined;
  readonly log: Log;
  readonly signal: AbortSignal;
}

function runGit(args: readonly string[], env: Record<string, string>, signal: AbortSignal, shown: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...args], { env, stdio: ['ignore', 'pipe', 'pipe'], signal, detached: true });
    let out = '';
    let err = '';
    child.stdout?.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr?.on('data', (c: Buffer) => { err += c.toString(); });
    child.once('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      reject(new BuildError('BUILD', code === 'ENOENT'
        ? `ADD ${shown}: ssh:// and git:// sources need the git command on PATH (http(s) sources do not)`
        : `ADD ${shown}: git ${args[0] ?? ''} failed: ${e.message}`));
    });
    child.once('close', (code) => {
      if (code === 0) { resolve(out.trim()); return; }
      const why = err.trim().split('\n').filter((l) => l.startsWith('fatal:') || l.startsWith('error:')).join('; ') || err.trim().split('\n').pop() || `exit ${code ?? 'signal'}`;
      reject(new BuildError('BUILD', `ADD ${shown}: git ${args[0] ?? ''} failed: ${why}`));
    });
  });
}

/** ssh:// and git:// with the system git: shallow fetch of the ref (a commit id: fetched directly, else everything), checkout, submodules. */
async function cloneWithGit(src: GitAddSource, dir: string, deps: GitFetchDeps): Promise<string> {
  let forward: SshForward | undefined;
  try {
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1',
      // BuildKit's git source without known hosts: no host key check, never a prompt.
      GIT_SSH_COMMAND: deps.env['GIT_SSH_COMMAND'] ?? 'ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes',
    };
    if (src.transport === 'ssh') {
      if (deps.ssh === undefined) {
        throw new BuildError('BUILD', `ADD ${src.shown}: an ssh git source needs an SSH agent: give --ssh default (or --ssh default=SOCKET|KEYFILE)`);
      }
      if ('socket' in deps.ssh) env['SSH_AUTH_SOCK'] = deps.ssh.socket;
      else {
        forward = await startSshForward(deps.ssh, { dir: path.dirname(dir), name: 'agent.sock', mode: 0o600, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, id: 'default' });
        env['SSH_AUTH_SOCK'] = forward.path;
      }
    }
    const git = (args: readonly string[]): Promise<string> => runGit(['-C', dir, ...args], env, deps.signal, src.shown);
    deps.log.info({ url: src.shown, ref: src.ref ?? 'HEAD' }, `Cloning ${src.shown}${src.ref !== undefined ? ` at ${src.ref}` : ''}`);
    await runGit(['init', '-q', dir], env, deps.signal, src.shown);
    await git(['remote', 'add', 'origin', src.url]);
    const ref = src.ref ?? 'HEAD';
    try {
      await git(['fetch', '-q', '--depth=1', '--no-tags', 'origin', ref]);
    } catch (err) {
      // A commit id the server will not serve directly: every branch and tag, then look for it.
      if (!/^[0-9a-f]{7,40}$/iu.test(ref)) throw err;
      await git(['fetch', '-q', '--tags', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
    }
    const target = /^[0-9a-f]{7,40}$/iu.test(ref) ? ref : 'FETCH_HEAD';
    await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', target]);
    await git(['submodule', 'update', '-q', '--init', '--recursive', '--depth=1']);
    return await git(['rev-parse', 'HEAD']);
  } finally {
    await forward?.close();
  }
}

/** Every `.git` (directory or submodule gitfile) below dir, deepest first. */
async function removeGitDirs(dir: string): Promise<void> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const gits = entries.filter((e) => e.name === '.git').map((e) => path.join(e.parentPath, e.name));
  for (const g of gits.sort((a, b) => b.length - a.length)) await rm(g, { recursive: true, force: true });
}

export interface FetchedGit {
  /** The directory to copy: the checkout, or its SUBDIR. */
  readonly dir: string;
  readonly commit: string;
}

/** Clones the source into scratch/repo (scratch: a fresh directory of the caller's) and applies checksum, keep-git-dir, subdir. */
export async function fetchGitSource(src: GitAddSource, scratch: string, opts: { keepGitDir: boolean; checksum?: string | undefined }, deps: GitFetchDeps): Promise<FetchedGit> {
  const repo = path.join(scratch, 'repo');
  await mkdir(repo, { recursive: true });
  const commit = src.transport === 'http'
    ? await cloneGitUrl({ url: src.url, ...(src.ref === undefined ? {} : { ref: src.ref }), env: deps.env, log: deps.log, signal: deps.signal }, repo)
    : await cloneWithGit(src, repo, deps);
  deps.log.info({ url: src.shown, commit }, `Checked out ${src.shown} at ${commit}`);
  if (opts.checksum !== undefined && !commit.startsWith(opts.checksum)) {
    throw new BuildError('DIGEST_MISMATCH', `ADD failed: checksum mismatch for ${src.shown}${src.ref === undefined ? '' : `#${src.ref}`}: expected commit ${opts.checksum}, got ${commit}`);
  }
  if (!opts.keepGitDir) await removeGitDirs(repo);
  if (src.subdir === undefined) return { dir: repo, commit };
  const sub = await resolveInRoot(repo, src.subdir);
  if ((await stat(sub).catch(() => undefined))?.isDirectory() !== true) {
    throw new BuildError('BUILD', `ADD failed: ${src.shown}#${src.ref ?? ''}:${src.subdir}: no such directory in the repository`);
  }
  return { dir: sub, commit };
}

/** The cache-key input of a git source: the commit its ref names now (http(s): asked of the server; others: the ref as written). */
export async function gitSourceKey(src: GitAddSource, keepGitDir: boolean, deps: GitFetchDeps): Promise<string> {
  let commit: string | undefined = src.ref;
  if (src.transport === 'http') {
    commit = await resolveGitUrlRef({ url: src.url, ...(src.ref === undefined ? {} : { ref: src.ref }), env: deps.env, log: deps.log, signal: deps.signal });
  }
  return JSON.stringify(['git', src.shown, src.ref ?? 'HEAD', commit ?? null, src.subdir ?? '', keepGitDir]);
}
