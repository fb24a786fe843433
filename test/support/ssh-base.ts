// Test-only: a busybox base plus the host's ssh-add and every shared object it loads (at the same paths), so a RUN
// can list keys and sign through an ssh-agent socket. Built by our own executor and pushed to a loopback registry.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pushBusyboxBase } from './busybox-base.ts';
import { runExecutor } from './executor-process.ts';

/** bin and every shared object ldd names, at the same paths, under dir. */
export async function copyWithLibraries(bin: string, dir: string): Promise<void> {
  const files = [bin];
  for (const line of execFileSync('ldd', [bin], { encoding: 'utf8' }).split('\n')) {
    const m = /(\/\S+) \(0x/u.exec(line);
    if (m?.[1] !== undefined) files.push(m[1]);
  }
  for (const f of files) {
    await mkdir(join(dir, dirname(f)), { recursive: true });
    await copyFile(f, join(dir, f));
  }
}

/** Pushes `<host>/busybox:latest` and `<host>/ssh-base:latest` (busybox + ssh-add). */
export async function pushSshBase(registryHost: string): Promise<void> {
  await pushBusyboxBase(`${registryHost}/busybox:latest`);
  const work = await mkdtemp(join(tmpdir(), 'ssh-base-'));
  try {
    const ctx = join(work, 'ctx');
    await copyWithLibraries(execFileSync('sh', ['-c', 'command -v ssh-add'], { encoding: 'utf8' }).trim(), join(ctx, 'root'));
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${registryHost}/busybox:latest\nCOPY root/ /\n`);
    const run = await runExecutor([`--context=dir://${ctx}`, `--destination=${registryHost}/ssh-base:latest`,
      `--root-dir=${join(work, 'root')}`, '--insecure', '--insecure-pull']);
    if (run.code !== 0) throw new Error(`building the ssh base failed (${run.code}):\n${run.stderr}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
