// The executor in container mode inside a runc container, the way a Kubernetes Pod runs it: `restricted` is a Pod
// under Pod Security Standards "Restricted" (uid 1000, every capability list empty, noNewPrivileges, a seccomp
// profile that — as RuntimeDefault without CAP_SYS_ADMIN — refuses unshare, clone with CLONE_NEW*, setns, mount and
// chroot), over a rootfs the build user owns (the Restricted image variant); otherwise root with Docker's default
// capabilities (the normal container mode). The host's network (the test registry on 127.0.0.1).
import { execFile, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { collectRun, dockerDefaultCapabilities } from './container-mode.ts';

const exec = promisify(execFile);

/** RuntimeDefault's refusals of a process without CAP_SYS_ADMIN (as test/support/pss-restricted.py). */
function restrictedSeccomp(): Record<string, unknown> {
  const cloneNew = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64'],
    syscalls: [
      { names: ['unshare', 'setns', 'mount', 'umount2', 'pivot_root', 'chroot', 'open_tree', 'move_mount', 'fsopen'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ...cloneNew.map((bit) => ({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: bit, valueTwo: bit, op: 'SCMP_CMP_MASKED_EQ' }] })),
    ],
  };
}

export function runcConfig(args: readonly string[], restricted: boolean): Record<string, unknown> {
  const caps = restricted ? [] : [...dockerDefaultCapabilities];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: restricted ? { uid: 1000, gid: 1000 } : { uid: 0, gid: 0 },
      args: ['/kaniko/executor', ...args],
      env: ['PATH=/kaniko', 'container=kaniko-test', 'HOME=/kaniko'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: restricted,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'kaniko',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // As a kubelet does: the host's resolver and hosts (RUN apt-get needs names).
      { destination: '/etc/resolv.conf', type: 'bind', source: '/etc/resolv.conf', options: ['rbind', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: '/etc/hosts', options: ['rbind', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      ...(restricted ? { seccomp: restrictedSeccomp() } : {}),
    },
  };
}

export interface RuncRun { code: number; stdout: string; stderr: string; ms: number }

/** Runs the executor with `args` in the bundle `bundle` (its rootfs at bundle/rootfs, prepared by the caller). */
export async function runcExecutor(bundle: string, args: readonly string[], opts: { restricted: boolean; timeoutMs?: number }): Promise<RuncRun> {
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(runcConfig(args, opts.restricted)));
  const id = `kts-${process.pid}-${Date.now()}`;
  const child = spawn('runc', ['run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const run = await collectRun(child, opts.timeoutMs ?? 600_000, () => { void exec('runc', ['kill', id, 'KILL']).catch(() => undefined); });
    return { code: run.code, stdout: run.stdout, stderr: run.stderr, ms: run.totalMs };
  } finally {
    await exec('runc', ['delete', '--force', id]).catch(() => undefined);
  }
}
