// Root or not: which mode a build runs in, from the process's own credentials (/proc/self/status). Pure.

export type RootlessFlag = 'auto' | 'always' | 'never';

export interface RootlessDecision {
  readonly rootless: boolean;
  /** One phrase for the log: why this mode. */
  readonly reason: string;
  /** Capabilities the root path needs and the process lacks (empty when it has them all). */
  readonly missing: readonly string[];
  readonly uid: number | undefined;
}

/** Owners and modes of extracted and copied files: chown to anyone, write and chmod what others own. */
const fileCapabilities: ReadonlyArray<readonly [number, string]> = [[0, 'CAP_CHOWN'], [1, 'CAP_DAC_OVERRIDE'], [3, 'CAP_FOWNER']];
/** RUN as the image's user; with --root-dir also chroot and private mount/pid namespaces. */
const runCapabilities: ReadonlyArray<readonly [number, string]> = [[6, 'CAP_SETGID'], [7, 'CAP_SETUID']];
const isolationCapabilities: ReadonlyArray<readonly [number, string]> = [[18, 'CAP_SYS_CHROOT'], [21, 'CAP_SYS_ADMIN']];

/**
 * `status` is the text of /proc/self/status (undefined: unreadable, then `euid` alone decides); `isolate` is true for
 * --root-dir builds, whose RUN needs chroot and namespaces. `auto` goes non-root when any capability of the root
 * path is missing; `always`/`never` force the mode (never with capabilities missing is the caller's error).
 */
export function decideRootless(flag: RootlessFlag, status: string | undefined, opts: { readonly isolate: boolean; readonly euid?: number }): RootlessDecision {
  const uidText = status === undefined ? undefined : /^Uid:\s*\d+\s+(\d+)/m.exec(status)?.[1];
  const uid = uidText !== undefined ? Number(uidText) : opts.euid;
  const capText = status === undefined ? undefined : /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(status)?.[1];
  const needed = [...fileCapabilities, ...runCapabilities, ...(opts.isolate ? isolationCapabilities : [])];
  let missing: string[];
  if (capText !== undefined) {
    const caps = BigInt(`0x${capText}`);
    missing = needed.filter(([bit]) => ((caps >> BigInt(bit)) & 1n) === 0n).map(([, name]) => name);
  } else {
    missing = uid === undefined || uid === 0 ? [] : needed.map(([, name]) => name);
  }
  const who = uid === undefined ? 'an unknown uid' : uid === 0 ? 'root' : `uid ${uid}`;
  if (flag === 'always') return { rootless: true, reason: '--rootless=always', missing, uid };
  if (flag === 'never') return { rootless: false, reason: '--rootless=never', missing, uid };
  if (missing.length === 0) return { rootless: false, reason: `running as ${who} with the capabilities a root build needs`, missing, uid };
  return { rootless: true, reason: `running as ${who} without ${missing.join(', ')}`, missing, uid };
}
