// Runs bin/executor as a child process, as a user would, and captures what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const executorBin = join(projectRoot, 'bin', 'executor');

export interface ExecutorRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runExecutor(args: readonly string[], opts: { env?: Record<string, string>; input?: Buffer; timeoutMs?: number; bin?: string; onSpawn?: (child: ChildProcess) => void } = {}): Promise<ExecutorRun> {
  // Tests never build into the host's '/': this machine may look like a container to the executor
  // (it has /.dockerenv), so a forgotten --root-dir would not be refused by the executor itself.
  // `executor index` builds nothing: it only reads and pushes manifests.
  if (args[0] !== 'version' && args[0] !== 'index' && !args.some((a) => a.startsWith('--root-dir=') && a !== '--root-dir=/')) {
    return Promise.reject(new Error('runExecutor: every test build needs --root-dir=<temporary directory>'));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(opts.bin ?? executorBin, [...args], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root',
        // Tests reach nothing but loopback: no cloud SDK may probe an instance-metadata address.
        METADATA_SERVER_DETECTION: 'none', AWS_EC2_METADATA_DISABLED: 'true', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input);
  });
}

/** What `contextBuilds` gives: write a context (Dockerfile with BASE replaced, optional files) and build it. */
export type ContextBuild = (name: string, dockerfile: string, extra?: readonly string[], opts?: { env?: Record<string, string>; files?: Record<string, string> }) => Promise<ExecutorRun>;

/**
 * One build per named context under `work`: the Dockerfile's `BASE` becomes `base`, the image goes to
 * `<registryHost>/<repo>/<name>:latest`, each build gets its own --root-dir (insecure, text logs).
 */
export function contextBuilds(o: { readonly work: () => string; readonly registryHost: () => string; readonly repo: string; readonly base: () => string }): ContextBuild {
  let n = 0;
  return async (name, dockerfile, extra = [], opts = {}) => {
    const dir = join(o.work(), name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', o.base()));
    for (const [file, text] of Object.entries(opts.files ?? {})) {
      await mkdir(join(dir, file, '..'), { recursive: true });
      await writeFile(join(dir, file), text);
    }
    return runExecutor([`--context=dir://${dir}`, `--destination=${o.registryHost()}/${o.repo}/${name}:latest`,
      `--root-dir=${join(o.work(), `root-${n++}`)}`, '--insecure', '--insecure-pull', '--log-format=text', ...extra], opts.env !== undefined ? { env: opts.env } : {});
  };
}
