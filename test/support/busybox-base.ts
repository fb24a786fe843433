// A base image made from Debian's busybox-static, built by our own executor from scratch
// (FROM scratch + COPY rootfs/ /), so the suite and the Quick start need no public registry.
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExecutor } from './executor-process.ts';

export const busyboxPath = '/bin/busybox';

/** Writes a build context whose rootfs/ holds busybox, its applet links, /etc/passwd and /etc/group. */
export async function prepareBusyboxContext(dir: string): Promise<void> {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'root', 'home']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await copyFile(busyboxPath, join(rootfs, 'bin', 'busybox'));
  await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(busyboxPath, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const applet of applets) await symlink('busybox', join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  await writeFile(join(dir, 'Dockerfile'), [
    'FROM scratch',
    'COPY rootfs/ /',
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'CMD ["sh"]',
    '',
  ].join('\n'));
}

/** Builds the busybox base and pushes it to `destination` (a loopback registry). Returns its digest. */
export async function pushBusyboxBase(destination: string, extraArgs: readonly string[] = []): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'busybox-base-'));
  try {
    const context = join(work, 'context');
    await prepareBusyboxContext(context);
    const run = await runExecutor([
      `--context=dir://${context}`, `--dockerfile=${join(context, 'Dockerfile')}`, `--destination=${destination}`,
      `--root-dir=${join(work, 'root')}`, `--digest-file=${join(work, 'digest')}`, '--insecure', '--insecure-pull',
      '--log-format=text', ...extraArgs,
    ]);
    if (run.code !== 0) throw new Error(`building the busybox base failed (${run.code}):\n${run.stderr}`);
    const { readFile } = await import('node:fs/promises');
    return (await readFile(join(work, 'digest'), 'utf8')).trim();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
