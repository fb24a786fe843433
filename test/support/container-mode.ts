// Container mode in tests: an assembled runtime directory (scripts/assemble-kaniko-dir.ts) becomes the whole
// filesystem of a fresh mount + pid namespace, as in the executor image, and the executor builds '/' there:
// runContained (unshare, every capability) or runInRunc (a runc container with the capabilities given).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

// Runs on the host, inside `unshare --mount --propagation private` (so nothing it mounts outlives the test):
// a minimal /dev for the new root, then the executor as pid 1 of a new pid namespace chrooted into R.
const wrapper = `#!/bin/sh
set -eu
R="$1"; shift
# A container's '/' is a mountpoint (its rootfs); so is R's here.
mount --bind "$R" "$R"
mount -t tmpfs -o mode=755,size=1m tmpfs "$R/dev"
for n in null zero full random urandom tty; do
  : > "$R/dev/$n"
  mount --bind "/dev/$n" "$R/dev/$n"
done
ln -s /proc/self/fd "$R/dev/fd"
unshare="$(command -v unshare)"
exec env -i container=kaniko-test PATH=/kaniko "$unshare" --pid --fork --mount-proc --root="$R" /kaniko/executor "$@"
`;

/** Writes the wrapper script to `path` (outside the root) and returns `path`. */
export async function writeContainerWrapper(path: string): Promise<string> {
  await writeFile(path, wrapper, { mode: 0o755 });
  return path;
}

export interface ContainedRun { code: number; stdout: string; stderr: string; firstLogMs: number | undefined; totalMs: number }

/** Runs the executor with `args` in container mode over `root`; killed (every process of the build) after `timeoutMs`. */
export function runContained(script: string, root: string, args: readonly string[], timeoutMs = 300_000): Promise<ContainedRun> {
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', script, root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Killing unshare's child (pid 1 of the namespace) takes every process of the build with it.
  return collectRun(child, timeoutMs, () => child.kill('SIGKILL'));
}

/** What a contained executor printed, its exit status and timings; `onTimeout` (kill it) runs after `timeoutMs`. */
export function collectRun(child: ChildProcess, timeoutMs: number, onTimeout: () => void): Promise<ContainedRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let stdout = '';
    let stderr = '';
    let firstLogMs: number | undefined;
    child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => {
      if (firstLogMs === undefined && /INFO/.test(d.toString())) firstLogMs = Date.now() - started;
      stderr += d.toString();
    });
    const timer = setTimeout(onTimeout, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr, firstLogMs, totalMs: Date.now() - started });
    });
  });
}

/** Docker's default capability set (moby's oci/caps/defaults.go): what an unprivileged kaniko pod runs with. */
export const dockerDefaultCapabilities: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP',
];

/**
 * Runs the executor with `args` in container mode over `root` inside a runc container (runc's default spec:
 * fresh /proc, /dev with the default devices, read-only /sys) with exactly `capabilities`, as Docker would start
 * it: pid 1, root, no seccomp. The host's network (the test registry listens on 127.0.0.1) and the host's
 * /etc/resolv.conf and /etc/hosts bound in, as Docker binds its own. `bundleDir` must not exist yet.
 */
export async function runInRunc(root: string, bundleDir: string, args: readonly string[],
  opts: { capabilities: readonly string[]; timeoutMs?: number }): Promise<ContainedRun> {
  await mkdir(bundleDir);
  await promisify(execFile)('runc', ['spec', '--bundle', bundleDir]);
  const configPath = join(bundleDir, 'config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as RuncSpec;
  const caps = [...opts.capabilities];
  config.process = {
    ...config.process, terminal: false, args: ['/kaniko/executor', ...args], env: ['PATH=/kaniko', 'container=kaniko-test'],
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    rlimits: [], // inherited (raising them needs CAP_SYS_RESOURCE, which the test process may lack)
  };
  config.root = { path: root, readonly: false };
  config.mounts = [...config.mounts, ...['/etc/resolv.conf', '/etc/hosts'].map((f) => ({ destination: f, type: 'bind', source: f, options: ['rbind', 'ro'] }))];
  config.linux.namespaces = config.linux.namespaces.filter((n) => n.type !== 'network');
  await writeFile(configPath, JSON.stringify(config));
  const id = `kts-${process.pid}-${Date.now()}`;
  const child = spawn('runc', ['run', '--bundle', bundleDir, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    return await collectRun(child, opts.timeoutMs ?? 300_000, () => { execFile('runc', ['kill', id, 'KILL'], () => undefined); });
  } finally {
    await promisify(execFile)('runc', ['delete', '--force', id]).catch(() => undefined);
  }
}

interface RuncSpec {
  process: Record<string, unknown>;
  root: { path: string; readonly: boolean };
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: { namespaces: { type: string }[] } & Record<string, unknown>;
}
