// Container mode in tests: an assembled runtime directory (scripts/assemble-kaniko-dir.ts) becomes the whole
// filesystem of a fresh mount + pid namespace, as in the executor image, and the executor builds '/' there.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

// Runs on the host, inside `unshare --mount --propagation private` (so nothing it mounts outlives the test):
// a minimal /dev for the new root, then the executor as pid 1 of a new pid namespace chrooted into R.
const wrapper = `#!/bin/sh
set -eu
R="$1"; shift
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
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', script, root, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let firstLogMs: number | undefined;
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      if (firstLogMs === undefined && /INFO/.test(d.toString())) firstLogMs = Date.now() - started;
      stderr += d.toString();
    });
    // Killing unshare's child (pid 1 of the namespace) takes every process of the build with it.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr, firstLogMs, totalMs: Date.now() - started });
    });
  });
}
