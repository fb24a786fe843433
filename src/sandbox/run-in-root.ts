// Runs one command inside the build root through the native helper (native/run-in-root.c): Node can neither
// chroot nor set supplementary groups. The helper gets exactly the command's environment, so nothing of
// the executor's own environment leaks into the build.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';
import { BuildError } from '../errors.ts';

export interface RunInRootOptions {
  /** The build root on the host ('/' in container mode). */
  readonly root: string;
  readonly argv: readonly string[];
  /** KEY=VALUE entries: the command's whole environment. */
  readonly env: readonly string[];
  /** Working directory inside the root; it must exist. */
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups (setgroups); empty drops the executor's own. */
  readonly groups: readonly number[];
  /** New mount + pid namespaces with private /dev, /proc, /sys, resolv.conf, hosts (--root-dir builds). */
  readonly isolate: boolean;
  readonly helperPath: string;
  /**
   * Container mode, a stage's own directory (root not '/', isolate false): chroot without namespaces; /dev gets the
   * usual nodes by mknod, /etc/resolv.conf and /etc/hosts the executor's when the root has none; /proc stays as the
   * root has it. All removed after the command.
   */
  readonly chrootSetup?: boolean;
  /** RUN --network=none: a fresh network namespace holding only loopback. */
  readonly networkNone?: boolean;
  /** RUN --mount=type=tmpfs (both modes; without isolate in a mount namespace of their own): targets relative to the root, symlinks already resolved; size in bytes (0: default). */
  readonly tmpfs?: readonly { readonly target: string; readonly size: number }[];
  /** RUN --mount=type=secret: host files (outside the root) bound read-only on targets relative to the root, symlinks already resolved. */
  readonly bindFiles?: readonly { readonly source: string; readonly target: string }[];
  /** RUN --mount=type=cache|bind: host directories or files bound on targets relative to the root (symlinks resolved), read-only unless readonly is false. */
  readonly binds?: readonly { readonly source: string; readonly target: string; readonly readonly: boolean }[];
  /**
   * Non-root mode: the helper runs under the fake-root supervisor
   * (native/fakeroot-supervisor.c), which reads the ownership table from `tableIn` and writes it to `tableOut`;
   * `chroot` (--root-dir builds): it emulates the helper's chroot by path translation.
   */
  readonly supervisor?: {
    readonly path: string; readonly tableIn: string; readonly tableOut: string; readonly chroot?: boolean;
    /** A non-root USER without an emulated chroot: path calls traced for the permission checks of a fake user. */
    readonly permissions?: boolean;
    /** RUN --mount emulated by the supervisor: sources seen at targets (relative to the root). */
    readonly binds?: readonly { readonly source: string; readonly target: string; readonly readonly: boolean }[];
  };
  /** When set, this script (a #! file's content) is executed instead of looking argv[0] up. */
  readonly script?: string;
  readonly onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  readonly signal: AbortSignal;
}

export interface RunInRootResult {
  /** The command's exit status; 128+N when it died of signal N. */
  readonly exitCode: number;
}

/** Exit status the helper uses for its own setup failures (it reports them on fd 3 too). */
const setupFailure = 125;
/** How long output may still arrive after the command exited and its leftovers were killed. */
const closeGraceMs = 2000;

/** First candidate that is an executable regular file. */
export function findRunHelper(candidates: readonly string[]): string {
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new BuildError('BUILD', `the RUN helper run-in-root was not found (looked at: ${candidates.join(', ') || 'nothing'})`, {
    hint: 'build it with scripts/build-native.sh (needs gcc and libc6-dev)',
  });
}

function helperArgs(opts: RunInRootOptions): string[] {
  for (const id of [opts.uid, opts.gid, ...opts.groups]) {
    if (!Number.isSafeInteger(id) || id < 0 || id > 0xfffffffe) throw new BuildError('BUILD', `invalid user or group id ${id}`);
  }
  if (opts.argv.length === 0) throw new BuildError('BUILD', 'RUN needs a command to run');
  const tmpfs = opts.tmpfs ?? [];
  return [
    '--root', opts.root, '--cwd', opts.cwd,
    '--uid', String(opts.uid), '--gid', String(opts.gid), '--groups', opts.groups.join(','),
    '--error-fd', '3',
    ...(opts.isolate ? ['--isolate'] : []),
    ...(opts.networkNone === true ? ['--network-none'] : []),
    ...(opts.chrootSetup === true && !opts.isolate ? ['--chroot-setup'] : []),
    ...tmpfs.flatMap((t) => ['--tmpfs', `${t.target.replace(/^\/+/u, '')}:${t.size}`]),
    ...(opts.bindFiles ?? []).flatMap((b) => ['--bind-file', b.source, b.target.replace(/^\/+/u, '')]),
    ...(opts.binds ?? []).flatMap((b) => ['--bind', b.source, b.target.replace(/^\/+/u, ''), b.readonly ? 'ro' : 'rw']),
    ...(opts.script === undefined ? [] : ['--script-fd', '4']),
    '--', ...opts.argv,
  ];
}

/** KEY=VALUE list → spawn's env object; a later entry wins, as in execve consumers. */
function envObject(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

async function waitBounded(done: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
  try {
    await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function signalNumber(name: NodeJS.Signals | null): number {
  if (name === null) return 0;
  return osConstants.signals[name] ?? 0;
}

export async function runInRoot(opts: RunInRootOptions): Promise<RunInRootResult> {
  const sup = opts.supervisor;
  const helperArgv = helperArgs(opts);
  const [command, args] = sup === undefined ? [opts.helperPath, helperArgv]
    : [sup.path, ['--table-in', sup.tableIn, '--table-out', sup.tableOut, '--error-fd', '3', ...(sup.chroot === true ? ['--chroot'] : sup.permissions === true ? ['--permissions'] : []),
      ...(sup.binds ?? []).flatMap((b) => ['--bind', b.source, `/${b.target.replace(/^\/+/u, '')}`, b.readonly ? 'ro' : 'rw']), '--', opts.helperPath, ...helperArgv]];
  if (opts.signal.aborted) throw new BuildError('BUILD', 'RUN was cancelled', { cause: opts.signal.reason });
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      env: envObject(opts.env),
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', opts.script === undefined ? 'ignore' : 'pipe'],
      // Container mode: the helper execs in place, so its process group holds everything the command started.
      detached: !opts.isolate,
    });
  } catch (err) {
    // e.g. a NUL byte in an argument or variable: spawn refuses synchronously.
    throw new BuildError('BUILD', `cannot start the RUN helper: ${(err as Error).message}`, { cause: err });
  }
  const setupErrors: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => opts.onOutput(chunk, 'stdout'));
  child.stderr?.on('data', (chunk: Buffer) => opts.onOutput(chunk, 'stderr'));
  const errorPipe = child.stdio[3];
  errorPipe?.on('data', (chunk: Buffer) => setupErrors.push(chunk));
  errorPipe?.on('error', () => { /* the helper closes it at exec */ });
  if (opts.script !== undefined) {
    const scriptPipe = child.stdio[4] as Writable | null;
    scriptPipe?.on('error', () => { /* an early helper failure closes the pipe; its exit status says why */ });
    scriptPipe?.end(opts.script);
  }

  const killAll = (): void => {
    if (child.pid === undefined) return;
    try {
      // Isolated: the helper kills its pid namespace. Otherwise the whole process group goes.
      if (opts.isolate) child.kill('SIGTERM');
      else process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const onAbort = (): void => killAll();
  opts.signal.addEventListener('abort', onAbort, { once: true });

  try {
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (err) => reject(new BuildError('BUILD', `cannot start the RUN helper ${opts.helperPath}: ${err.message}`, { cause: err })));
      child.once('exit', (c, s) => resolve({ code: c, signal: s }));
    });
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const { code, signal } = await exited;
    if (!opts.isolate) killAll(); // daemons the command left behind in its process group
    // A process that escaped the group (setsid) could hold the pipes open forever: stop reading after a while.
    await waitBounded(closed, closeGraceMs);
    for (const stream of [child.stdout, child.stderr, errorPipe]) stream?.destroy();
    if (opts.signal.aborted) throw new BuildError('BUILD', 'RUN was cancelled', { cause: opts.signal.reason });
    const exitCode = code ?? 128 + signalNumber(signal);
    const setupMessage = Buffer.concat(setupErrors).toString('utf8').trim();
    if (exitCode === setupFailure && setupMessage !== '') {
      // The supervisor refused a call (mount, chroot…): its line says which.
      const refused = /^refused: (.*)$/m.exec(setupMessage)?.[1];
      if (refused !== undefined) throw new BuildError('BUILD', refused);
      throw new BuildError('BUILD', `cannot run the command in the build root: ${setupMessage}`);
    }
    return { exitCode };
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}

/** An exclusive lock held by a helper process (flock(2)); released by release() or when this process dies. */
export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Takes an exclusive flock on `file` (created if missing) through the helper (`--hold-lock`): Node has no flock.
 * wait=false: undefined at once when another process holds it. The wait ends with the signal (BuildError).
 */
export async function holdLock(helperPath: string, file: string, opts: { wait: boolean; signal: AbortSignal }): Promise<HeldLock | undefined> {
  opts.signal.throwIfAborted();
  const child = spawn(helperPath, [opts.wait ? '--hold-lock' : '--hold-lock-nb', file], { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  child.stdin.on('error', () => { /* the helper already exited */ });
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', (code) => resolve(code ?? -1));
  });
  const onAbort = (): void => { child.kill('SIGKILL'); };
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const state = await new Promise<'locked' | 'busy' | 'failed'>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('locked\n')) resolve('locked');
        else if (out.includes('busy\n')) resolve('busy');
      });
      void exited.then(() => resolve(out.includes('locked\n') ? 'locked' : out.includes('busy\n') ? 'busy' : 'failed'));
    });
    if (opts.signal.aborted) throw new BuildError('BUILD', 'RUN was cancelled', { cause: opts.signal.reason });
    if (state === 'busy') return undefined;
    if (state === 'failed') throw new BuildError('BUILD', `cannot lock ${file}: ${err.trim() || 'the helper failed'}`);
    return {
      async release() {
        child.stdin.end();
        await exited;
      },
    };
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}

/** What this process may do for a chroot-only RUN (container mode): undefined = permitted, else the error. */
export interface ChrootProbe {
  readonly chroot?: string;
  readonly mknod?: string;
  /** Private mount + pid namespaces with /proc (what `isolate` needs): undefined = permitted (SYS_ADMIN, no seccomp veto). */
  readonly isolate?: string;
}

/** Asks the helper (`--probe DIR`) whether chroot(2) into `dir`, mknod(2) of a device in it, and isolation are permitted. */
export async function probeChroot(helperPath: string, dir: string): Promise<ChrootProbe> {
  const child = spawn(helperPath, ['--probe', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: {} });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('close', (c) => resolve(c ?? -1));
  });
  const answer = (name: string): string | undefined => {
    const line = out.split('\n').find((l) => l.startsWith(`${name}: `));
    const value = line?.slice(name.length + 2) ?? (code === 0 ? 'no answer' : err.trim() || `the helper exited with ${code}`);
    return value === 'ok' ? undefined : value;
  };
  const chroot = answer('chroot');
  const mknod = answer('mknod');
  const isolate = answer('isolate');
  return { ...(chroot !== undefined ? { chroot } : {}), ...(mknod !== undefined ? { mknod } : {}), ...(isolate !== undefined ? { isolate } : {}) };
}
