// Where files land. Inside the executor's own container the build root is '/' (kaniko's model). Anywhere else
// writing to '/' would wreck the host, so it needs --force; --root-dir builds in a directory instead.
import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';

export interface ContainerSignals {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string | undefined;
  readonly exists: (path: string) => boolean;
}

export const hostSignals: ContainerSignals = {
  env: {},
  readFile: (p) => { try { return readFileSync(p, 'utf8'); } catch { return undefined; } },
  exists: (p) => existsSync(p),
};

/** Container detection as kaniko's proc.GetContainerRuntime: marker files, $container, cgroups, overlay on '/'. */
export function detectContainer(s: ContainerSignals): string | undefined {
  if (s.exists('/.dockerenv')) return 'docker';
  if (s.exists('/run/.containerenv')) return 'podman';
  const envContainer = s.env['container'];
  if (envContainer !== undefined && envContainer !== '') return envContainer;
  const systemd = s.readFile('/run/systemd/container')?.trim();
  if (systemd !== undefined && systemd !== '') return systemd;
  if (s.exists('/__runsc_containers__')) return 'gvisor';
  const cgroup = s.readFile('/proc/1/cgroup') ?? '';
  for (const marker of ['docker', 'kubepods', 'lxc', 'containerd', 'libpod', 'garden', 'ecs']) {
    if (cgroup.includes(`/${marker}`)) return marker;
  }
  if (s.readFile('/proc/vz') !== undefined && !s.exists('/proc/bc')) return 'openvz';
  const mounts = s.readFile('/proc/mounts') ?? '';
  if (/^\S+ \/ overlay /m.test(mounts)) return 'overlay-root';
  return undefined;
}

export interface BuildRootChoice {
  readonly rootDir: string;
  readonly containerMode: boolean;
}

export function chooseBuildRoot(opts: { rootDir?: string; force: boolean }, signals: ContainerSignals): BuildRootChoice {
  if (opts.rootDir !== undefined && opts.rootDir !== '' && opts.rootDir !== '/') {
    return { rootDir: opts.rootDir, containerMode: false };
  }
  if (detectContainer(signals) === undefined && !opts.force) {
    throw new UsageError('refusing to build into / outside a container: it would overwrite this machine\'s files', {
      hint: 'use --root-dir=DIR to build in a directory, or --force if you really mean /',
    });
  }
  return { rootDir: '/', containerMode: true };
}

/** The capabilities every build needs: owners and modes of extracted and copied files, RUN as the image's user. */
const requiredCapabilities: ReadonlyArray<readonly [number, string]> = [
  [0, 'CAP_CHOWN'], [1, 'CAP_DAC_OVERRIDE'], [3, 'CAP_FOWNER'], [6, 'CAP_SETGID'], [7, 'CAP_SETUID'],
];

/**
 * Refuse at start-up, with one line saying what is missing, when the process lacks the privileges a build needs
 * (a non-root uid, or root with capabilities dropped), instead of failing half-way through the first chown.
 * `status` is /proc/self/status; unreadable ⇒ no verdict.
 */
export function checkPrivileges(status: string | undefined): void {
  if (status === undefined) return;
  const capLine = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(status);
  if (capLine === null) return;
  const caps = BigInt(`0x${capLine[1] ?? '0'}`);
  const missing = requiredCapabilities.filter(([bit]) => ((caps >> BigInt(bit)) & 1n) === 0n).map(([, name]) => name);
  if (missing.length === 0) return;
  const uid = /^Uid:\s*\d+\s+(\d+)/m.exec(status)?.[1] ?? '?';
  throw new UsageError(`the executor needs root privileges: running as uid ${uid} without ${missing.join(', ')}`, {
    hint: 'run it as uid 0 with the default container capabilities (Pod Security Standards "Baseline"); builds as a non-root user are not supported yet',
  });
}
