// RUN: executes a command inside the build root with the image's environment, user and working directory,
// as Docker does (kaniko's pkg/commands/run.go for reference; Docker wins where they differ: USER's group is
// honoured). The process work is done by src/sandbox (a native helper); the snapshot walks the tree after.
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { predefinedArgs } from '../dockerfile/args.ts';
import { expandWord } from '../dockerfile/expand.ts';
import type { RunInstruction } from '../dockerfile/instructions.ts';
import { BuildError } from '../errors.ts';
import type { ConfigFile } from '../oci/types.ts';
import { MountSpecError, mountKey, parseMount, type MountSpec } from '../mounts/parse.ts';
import { mkdirAllInRoot } from '../rootfs/copy.ts';
import { resolveInRootSync } from '../rootfs/resolve.ts';
import { lookupUser, supplementaryGroups } from '../rootfs/users.ts';
import { runInRoot } from '../sandbox/run-in-root.ts';
import { bindMountInputs, prepareRunMounts, type PreparedMounts, type RunMountOptions } from './run-mounts.ts';
import { startSshForward, type SshForward } from '../sandbox/ssh-agent.ts';
import { applyFakerootTable, supervisorPathFor, writeFakerootTable } from './run-fakeroot.ts';
import type { Command, SecretSource, StepContext } from './command.ts';

const defaultShell: readonly string[] = ['/bin/sh', '-c'];
/** What runc/containerd give a process whose image sets no PATH. */
const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups, the primary gid first (as containerd sets them). */
  readonly groups: readonly number[];
  readonly home: string;
}

/** The process to start: argv, plus a script body when argv[0] is a heredoc with a #! line. */
export interface RunProcess {
  readonly argv: readonly string[];
  readonly script?: string;
}

export function runCommand(instr: RunInstruction, opts: RunMountOptions = {}): Command {
  return {
    line: instr.line,
    text: instr.text,
    effects: { snapshot: 'tree', cacheable: true, needsRootfs: true },
    async cacheInputs(step) {
      const mounts = checkRunFlags(instr, runWorkingDir(step.image), (v) => expandWord(v, step.env, { escape: step.escape }));
      return [...runCacheInputs(step, runProcess(instr, step.image.config.Shell)), ...runFlagInputs(instr, mounts),
        ...(await bindMountInputs(step, mounts, opts))];
    },
    async execute(step) {
      const mounts = checkRunFlags(instr, runWorkingDir(step.image), (v) => expandWord(v, step.env, { escape: step.escape }));
      const config = step.image.config;
      // Non-root mode: the command runs as fake root under the supervisor (native/fakeroot-supervisor*.c), which
      // also emulates the chroot and the RUN's mounts; what needs a namespace of its own is refused before it runs.
      const owners = step.owners;
      // Non-root, a root other than '/' (--root-dir, or a stage's own directory in container mode): the supervisor
      // emulates the helper's chroot (path translation); no namespaces.
      const emulatedRoot = owners !== undefined && (step.runtime.isolate || posix.resolve(step.root) !== '/');
      if (owners !== undefined) {
        // Mounts are emulated by the supervisor (paths under a target resolve to its source, AF_UNIX socket paths
        // included); a network namespace cannot be.
        if (instr.network === 'none') {
          throw new BuildError('NOT_SUPPORTED', 'RUN --network=none needs a network namespace, which a non-root build cannot create (non-root mode)');
        }
      }
      const user = await resolveRunUser(step.root, config.User ?? '');
      const env = buildRunEnv(config.Env ?? [], step.args, step.buildArgs, user.home);
      const secrets = await prepareSecrets(step, mounts.filter((m) => m.type === 'secret'));
      env.push(...secrets.env);
      let mounted: PreparedMounts | undefined;
      let ssh: PreparedSsh | undefined;
      try {
        mounted = await prepareRunMounts(step, mounts, opts);
        ssh = await prepareSsh(step, mounts.filter((m) => m.type === 'ssh'));
        if (ssh.sock !== undefined && !env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) env.push(`SSH_AUTH_SOCK=${ssh.sock}`);
        const cwd = runWorkingDir(step.image);
        // Docker (runc) creates a missing working directory, owned by root.
        await mkdirAllInRoot(step.root, cwd, { uid: 0, gid: 0, mode: 0o755, ...(owners !== undefined ? { owners } : {}) });
        const proc = runProcess(instr, config.Shell);
        const tmpfs = mounts.filter((m) => m.type === 'tmpfs').map((m) => ({ target: rootRelative(step.root, m.target), size: m.size }));
        const bindFiles = [...secrets.files, ...ssh.files];
        const binds = mounted.binds.map((b) => ({ ...b, target: rootRelative(step.root, b.target) }));
        let supervisor: { path: string; tableIn: string; tableOut: string; chroot: boolean; permissions: boolean; binds: { source: string; target: string; readonly: boolean }[] } | undefined;
        if (owners !== undefined) {
          const dir = await mkdtemp(join(step.runtime.scratchDir ?? tmpdir(), 'fakeroot-'));
          supervisor = { path: supervisorPathFor(step.runtime.helperPath), tableIn: join(dir, 'in'), tableOut: join(dir, 'out'), chroot: emulatedRoot,
            // A non-root USER in '/': the supervisor also traces opens and the like, for the permission checks.
            permissions: !emulatedRoot && (user.uid !== 0 || user.gid !== 0), binds: [] };
          if (!existsSync(supervisor.path)) {
            await rm(dir, { recursive: true, force: true });
            throw new BuildError('NOT_SUPPORTED', `RUN in non-root mode needs the fake-root supervisor, which is not at ${supervisor.path} (non-root mode)`,
              { hint: 'build it with scripts/build-native.sh (x86_64 and aarch64), or run the executor as root' });
          }
          await writeFakerootTable(owners, step.root, supervisor.tableIn);
          // The RUN's mounts, emulated: a tmpfs is an empty directory of the RUN's own, removed with it.
          for (const [i, t] of tmpfs.entries()) {
            const source = join(dir, `tmpfs-${i}`);
            await mkdir(source, { mode: 0o1777 });
            supervisor.binds.push({ source, target: t.target, readonly: false });
          }
          supervisor.binds.push(...bindFiles.map((b) => ({ source: b.source, target: b.target, readonly: true })), ...binds);
        }
        step.log.debug({ argv: proc.argv, cwd, uid: user.uid, gid: user.gid }, 'Running command');
        const { exitCode } = await runInRoot({
          root: step.root,
          argv: proc.argv,
          ...(proc.script === undefined ? {} : { script: proc.script }),
          env,
          cwd,
          uid: user.uid,
          gid: user.gid,
          groups: user.groups,
          isolate: step.runtime.isolate && !emulatedRoot,
          // Container mode, a stage built in its own directory: chroot only (no namespaces in an unprivileged pod).
          chrootSetup: !step.runtime.isolate && !emulatedRoot && posix.resolve(step.root) !== '/',
          networkNone: instr.network === 'none',
          tmpfs: supervisor !== undefined ? [] : tmpfs,
          bindFiles: supervisor !== undefined ? [] : bindFiles,
          binds: supervisor !== undefined ? [] : binds,
          helperPath: step.runtime.helperPath,
          ...(supervisor !== undefined ? { supervisor } : {}),
          onOutput: (chunk) => step.runtime.output(chunk),
          signal: step.signal,
        }).finally(() => step.runtime.output(Buffer.alloc(0)));
        if (supervisor !== undefined && owners !== undefined) {
          const started = Date.now();
          const recorded = await applyFakerootTable(owners, step.root, supervisor.tableOut, step.runtime.ignore ?? { ignores: () => false });
          await rm(dirname(supervisor.tableIn), { recursive: true, force: true });
          step.log.debug({ recorded, durationMs: Date.now() - started }, 'Ownership table after RUN');
        }
        if (exitCode !== 0) {
          throw new BuildError('RUN_FAILED', runFailure(proc.argv, exitCode), { exitCode,
            // What a fake root cannot do: the container's seccomp profile refuses these before the supervisor sees them.
            ...(owners !== undefined ? { hint: 'non-root mode: the command ran as a fake root without privileges; mount, chroot, unshare and other calls that need real root fail with EPERM' } : {}) });
        }
        return { image: step.image };
      } finally {
        await mounted?.release();
        if (secrets.dir !== undefined) await rm(secrets.dir, { recursive: true, force: true });
        if (ssh !== undefined) await closeSsh(ssh);
      }
    },
  };
}

/** BuildKit's reason for a failed RUN: `process "/bin/sh -c exit 3" did not complete successfully: exit code: 3`. */
export function runFailure(argv: readonly string[], exitCode: number): string {
  return `process "${argv.join(' ')}" did not complete successfully: exit code: ${exitCode}`;
}

interface PreparedSecrets {
  readonly env: string[];
  readonly files: { source: string; target: string }[];
  /** The 0700 scratch directory holding the secret files (removed after the RUN). */
  readonly dir?: string;
}

/** A --secret's value; undefined when the build was not given it (or its file/variable is missing). */
export async function secretValue(source: SecretSource | undefined): Promise<Buffer | undefined> {
  if (source === undefined) return undefined;
  if ('env' in source) {
    const v = process.env[source.env];
    return v === undefined ? undefined : Buffer.from(v);
  }
  try {
    return await readFile(source.src);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BuildError('BUILD', `cannot read the secret file ${source.src}: ${(err as Error).message}`);
  }
}

/**
 * RUN --mount=type=secret: env secrets become KEY=VALUE entries of the command's environment only; file secrets are
 * written to a 0700 directory outside the build root (mode/uid/gid as asked) for the helper to bind read-only on the
 * target. The value never reaches a log line, the cache key or the config. A missing secret is skipped unless required.
 */
async function prepareSecrets(step: StepContext, mounts: readonly MountSpec[]): Promise<PreparedSecrets> {
  const env: string[] = [];
  const files: { source: string; target: string }[] = [];
  let dir: string | undefined;
  try {
    for (const m of mounts) {
      const spec = m.secret;
      if (spec === undefined) continue;
      const value = await secretValue(step.runtime.secrets?.get(spec.id));
      if (value === undefined) {
        if (spec.required) throw new BuildError('DOCKERFILE', `RUN --mount=type=secret: secret ${spec.id} not found`);
        continue;
      }
      if (spec.env !== undefined) env.push(`${spec.env}=${value.toString()}`);
      if (m.target === '') continue;
      dir ??= await mkdtemp(join(step.runtime.scratchDir ?? tmpdir(), 'secrets-'));
      const file = join(dir, String(files.length));
      await writeFile(file, value, { mode: 0o600 });
      if (step.owners === undefined) await chown(file, spec.uid, spec.gid); // non-root mode: the build user's (reads as root's)
      await chmod(file, spec.mode);
      files.push({ source: file, target: rootRelative(step.root, m.target) });
    }
  } catch (err) {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { env, files, ...(dir === undefined ? {} : { dir }) };
}

interface PreparedSsh {
  readonly files: { source: string; target: string }[];
  readonly forwards: SshForward[];
  /** SSH_AUTH_SOCK for the command: the first ssh mount's target (as BuildKit). */
  readonly sock?: string;
  readonly dir?: string;
}

/**
 * RUN --mount=type=ssh: for each mount a forwarding socket of ours (src/sandbox/ssh-agent.ts) in a 0700 directory
 * outside the root, bound on the target (default /run/buildkit/ssh_agent.<n>, n counting this RUN's ssh mounts).
 * An id the build was not given (--ssh) is skipped unless required.
 */
async function prepareSsh(step: StepContext, mounts: readonly MountSpec[]): Promise<PreparedSsh> {
  const files: { source: string; target: string }[] = [];
  const forwards: SshForward[] = [];
  let sock: string | undefined;
  let dir: string | undefined;
  const prepared = (): PreparedSsh => ({ files, forwards, ...(sock === undefined ? {} : { sock }), ...(dir === undefined ? {} : { dir }) });
  try {
    for (const [n, m] of mounts.entries()) {
      const spec = m.ssh;
      if (spec === undefined) continue;
      const target = m.target === '' ? `/run/buildkit/ssh_agent.${n}` : m.target;
      const source = step.runtime.ssh?.get(spec.id);
      if (source === undefined) {
        if (spec.required) throw new BuildError('DOCKERFILE', `RUN --mount=type=ssh: no SSH agent or key "${spec.id}" was given (--ssh ${spec.id}=...)`);
        continue;
      }
      // A unix socket path must stay under ~100 bytes: the scratch directory only when it is short.
      const scratch = step.runtime.scratchDir;
      dir ??= await mkdtemp(join(scratch !== undefined && scratch.length < 80 ? scratch : tmpdir(), 'ssh-'));
      const fwd = await startSshForward(source, { dir, name: `${n}.sock`, mode: spec.mode, uid: spec.uid, gid: spec.gid, id: spec.id });
      forwards.push(fwd);
      files.push({ source: fwd.path, target: rootRelative(step.root, target) });
      sock ??= target;
    }
  } catch (err) {
    await closeSsh(prepared());
    throw err;
  }
  return prepared();
}

async function closeSsh(ssh: PreparedSsh): Promise<void> {
  for (const f of ssh.forwards) await f.close();
  if (ssh.dir !== undefined) await rm(ssh.dir, { recursive: true, force: true });
}

/**
 * The RUN flags: --mount values parsed (tmpfs runs; other types stop with "not supported yet": refusing beats
 * silently building something else), --network and --security checked. The caller adds Dockerfile:line.
 */
export function checkRunFlags(instr: Pick<RunInstruction, 'mounts' | 'network' | 'security'>, workdir = '/',
  expand?: (value: string) => string): MountSpec[] {
  const mounts = instr.mounts.map((value) => {
    try {
      return parseMount(value, workdir, expand);
    } catch (err) {
      if (!(err instanceof MountSpecError)) throw err;
      if (err.notSupported) throw new BuildError('NOT_SUPPORTED', err.message);
      throw new BuildError('DOCKERFILE', `RUN --mount=${value}: ${err.message}`);
    }
  });
  const network = instr.network;
  // default and host both mean the build's own network here, as BuildKit's "host" entitlement gives.
  if (network !== undefined && network !== 'default' && network !== 'host' && network !== 'none') {
    throw new BuildError('DOCKERFILE', `RUN --network=${network}: expected default, none or host`);
  }
  const security = instr.security;
  // The helper does not drop capabilities, so "insecure" is what a root command already gets.
  if (security !== undefined && security !== 'sandbox' && security !== 'insecure') {
    throw new BuildError('DOCKERFILE', `RUN --security=${security}: expected sandbox or insecure`);
  }
  return mounts;
}

/** Cache-key entries for the flags (only when given, so keys of plain RUNs stay as they were). */
export function runFlagInputs(instr: Pick<RunInstruction, 'network' | 'security'>, mounts: readonly MountSpec[]): string[] {
  const out = mounts.map(mountKey);
  if (instr.network !== undefined) out.push(JSON.stringify(['network', instr.network]));
  if (instr.security !== undefined) out.push(JSON.stringify(['security', instr.security]));
  return out;
}

/** A mount target → its path relative to the root with symlinks resolved inside the root (never on the host). */
function rootRelative(root: string, target: string): string {
  const host = resolveInRootSync(root, target);
  const base = posix.resolve(root);
  const rel = posix.relative(base, host);
  if (rel === '' || rel.startsWith('..')) throw new BuildError('DOCKERFILE', `RUN --mount target ${target} resolves to the root itself`);
  return rel;
}

/** config.WorkingDir, '/' when unset; a relative one (hand-made configs) is taken from '/'. */
export function runWorkingDir(image: ConfigFile): string {
  const dir = image.config.WorkingDir ?? '';
  return posix.normalize(posix.join('/', dir === '' ? '/' : dir));
}

/**
 * The argv for the instruction. Shell form and heredocs follow BuildKit's dispatchRun: a lone `RUN <<EOF`
 * runs the body as the shell's command string (or, with a #! line, the body itself as the program); any
 * other heredoc use hands the shell the command line followed by each body and its delimiter.
 */
export function runProcess(instr: RunInstruction, shell: readonly string[] | undefined): RunProcess {
  const sh = shell === undefined || shell.length === 0 ? defaultShell : shell;
  if (instr.form === 'exec') {
    if (instr.args.length === 0) throw new BuildError('DOCKERFILE', `${instr.text}: the exec form needs a command`);
    return { argv: [...instr.args] };
  }
  const first = instr.heredocs[0];
  if (first === undefined) return { argv: [...sh, instr.command] };
  if (instr.heredocs.length === 1 && /^\d*<<-?\S+$/u.test(instr.command.trim())) {
    if (first.content.startsWith('#!')) return { argv: [`/dev/pipes/${first.name}`], script: first.content };
    return { argv: [...sh, first.content] };
  }
  let full = instr.command;
  for (const doc of instr.heredocs) full += `\n${doc.content}${doc.name}`;
  return { argv: [...sh, full] };
}

/**
 * The command's environment: the image ENV, then the ARGs in scope that no ENV shadows, then the predefined
 * proxy args given with --build-arg (usable without an ARG line); HOME and PATH added when missing.
 */
export function buildRunEnv(imageEnv: readonly string[], args: ReadonlyMap<string, string>,
  buildArgs: ReadonlyMap<string, string>, home: string): string[] {
  const names = new Set<string>();
  const out: string[] = [];
  const add = (name: string, value: string): void => {
    if (names.has(name)) return;
    names.add(name);
    out.push(`${name}=${value}`);
  };
  // Image ENV may repeat a name (hand-made configs): the last one is what a shell would see.
  const envMap = new Map<string, string>();
  for (const entry of imageEnv) {
    const eq = entry.indexOf('=');
    if (eq > 0) envMap.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const [name, value] of envMap) add(name, value);
  for (const [name, value] of args) add(name, value);
  for (const [name, value] of buildArgs) if (predefinedArgs.has(name)) add(name, value);
  add('HOME', home);
  add('PATH', defaultPath);
  return out;
}

/**
 * config.User → credentials, resolved against the ROOT's /etc/passwd and /etc/group. An empty USER is root;
 * an unknown numeric uid is allowed (gid 0 as runc, HOME '/'). Supplementary groups come from /etc/group
 * membership only when no group was given, as Docker does.
 */
export async function resolveRunUser(root: string, spec: string): Promise<RunUser> {
  const effective = spec === '' ? '0' : spec;
  const info = await lookupUser(root, effective);
  const explicitGroup = effective.includes(':') && !effective.endsWith(':');
  const extra = info.name !== undefined && !explicitGroup ? await supplementaryGroups(root, info.name, info.gid) : [];
  // Root without a passwd entry (scratch-like images) still gets /root, as Docker does.
  const home = info.uid === 0 && info.name === undefined ? '/root' : info.home;
  return { uid: info.uid, gid: info.gid, groups: [info.gid, ...extra], home };
}

/** What runCacheInputs reads of a step (StepContext satisfies it). */
export interface RunKeyContext {
  readonly image: ConfigFile;
  /** ARGs declared in the stage so far, with their resolved values. */
  readonly args: ReadonlyMap<string, string>;
}

/** The process a RUN starts (runProcess): the argv after SHELL, and a #! heredoc body. */
export interface RunKeyProcess {
  readonly argv: readonly string[];
  readonly script?: string;
}

/**
 * The inputs of a RUN beyond the instruction text: the argv (it carries the SHELL for the shell form and the
 * heredoc bodies, which the instruction text does not), the environment the command sees from the image ENV
 * and the ARGs declared in scope (sorted; ENV wins as in the process), the USER and the WORKDIR.
 * Not included: --build-args no ARG declares (the command cannot see them), the predefined proxy ARGs unless
 * declared (Docker exempts them from the cache on purpose), HOME/PATH defaults (they follow from ENV, USER and
 * the root's /etc/passwd, which the key chain already covers), ONBUILD/labels and other config (invisible to a
 * process).
 */
export function runCacheInputs(step: RunKeyContext, proc: RunKeyProcess): string[] {
  const env = new Map<string, string>(step.args);
  for (const kv of step.image.config.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const sortedEnv = [...env].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
  return [
    JSON.stringify(['argv', ...proc.argv]),
    JSON.stringify(['script', proc.script ?? null]),
    JSON.stringify(['env', ...sortedEnv]),
    JSON.stringify(['user', step.image.config.User ?? '']),
    JSON.stringify(['workdir', step.image.config.WorkingDir ?? '']),
  ];
}
