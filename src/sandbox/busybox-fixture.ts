// Test fixture (used by the sandbox and RUN tests): a tiny build root made of the host's static busybox,
// with a user `app` (uid 1000, group 1000, member of `extra` 2000), and the helper compiled on demand.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const applets = [
  'sh', 'echo', 'id', 'cat', 'sleep', 'pwd', 'env', 'ls', 'ps', 'kill', 'mkdir', 'touch', 'test', 'true',
  'false', 'printf', 'stat', 'rm', 'grep', 'head',
];

/** Fills root with /bin/busybox (+ applet symlinks), /etc/passwd and /etc/group. */
export async function createBusyboxRoot(root: string, busybox = '/bin/busybox'): Promise<void> {
  await mkdir(path.join(root, 'bin'), { recursive: true });
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await mkdir(path.join(root, 'home', 'app'), { recursive: true });
  await copyFile(busybox, path.join(root, 'bin', 'busybox'));
  for (const applet of applets) await symlink('busybox', path.join(root, 'bin', applet));
  await writeFile(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  await writeFile(path.join(root, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n');
}

/** Compiles the helper if needed (scripts/build-native.sh is idempotent) and returns its path. */
export function buildRunHelper(): string {
  execFileSync('bash', [path.join(projectDir, 'scripts', 'build-native.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  return path.join(projectDir, '.tools', 'bin', 'run-in-root');
}

/** Host pids whose command line contains every given word (e.g. a leftover `sleep 987654`). */
export function findProcesses(words: readonly string[]): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/u.test(name)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    if (words.every((w) => args.includes(w))) pids.push(Number(name));
  }
  return pids;
}
