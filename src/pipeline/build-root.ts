// Where files land. Inside the executor's own container the build root is '/' (kaniko's model). Anywhere else
// writing to '/' would wreck the host, so it needs --force; --root-dir builds in a directory instead.
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { BuildError, UsageError } from '../errors.ts';
import { decideRootless, type RootlessDecision, type RootlessFlag } from '../ownership/privileges.ts';

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

/**
 * Root mode or non-root mode (issue 19), from --rootless and the process's credentials (`status`: /proc/self/status).
 * --rootless=never without the root path's capabilities is refused at start-up with one line saying what is missing,
 * instead of failing half-way through the first chown.
 */
export function chooseRootMode(flag: RootlessFlag, status: string | undefined, opts: { readonly isolate: boolean; readonly euid?: number }): RootlessDecision {
  const decision = decideRootless(flag, status, opts);
  if (flag === 'never' && decision.missing.length > 0) {
    const who = decision.uid === undefined ? 'an unknown uid' : `uid ${decision.uid}`;
    throw new UsageError(`--rootless=never: the executor needs root privileges: running as ${who} without ${decision.missing.join(', ')}`, {
      hint: 'run it as uid 0 with the default container capabilities, or leave --rootless=auto to build in non-root mode',
    });
  }
  return decision;
}

/** Whether this process may create and remove entries in `dir` (access(2), W_OK|X_OK). */
export function writableDir(dir: string): boolean {
  try {
    accessSync(dir, fsConstants.W_OK | fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Non-root container mode builds into '/' of the executor's own container: '/' must be ours (the Restricted image
 * variant's '/' belongs to uid 1000). Refused at start-up with one line, not half-way through the first unpack.
 */
export function checkRootWritable(decision: RootlessDecision, containerMode: boolean, writable: (dir: string) => boolean = writableDir): void {
  if (!decision.rootless || !containerMode || writable('/')) return;
  const who = decision.uid === undefined ? 'this uid' : `uid ${decision.uid}`;
  throw new BuildError('BUILD', `non-root mode in container mode builds into /, which ${who} cannot write`, {
    hint: 'use the Restricted variant of the executor image (its / belongs to uid 1000: scripts/restricted-image.ts), or run as root',
  });
}
