// The paths of the build root that belong to the build machinery or the host (kernel
// filesystems, mounts, kaniko's own directory), not to the image: extraction skips them
// and the snapshotter never records them.
import path from 'node:path';

export interface IgnoreEntry {
  /** '/a/b' form, as seen from inside the root. */
  readonly path: string;
  /** true: ignore only what is below `path`, not `path` itself. */
  readonly prefixOnly?: boolean;
}

export interface IgnoreList {
  /** True when rootPath ('/a/b' form) is an ignored entry or lies below one. */
  ignores(rootPath: string): boolean;
}

/** '/a/b' form: leading slash, no trailing slash, no '.'/'..' segments ('..' cannot rise above '/'). */
function normalizeRootPath(p: string): string {
  // Already clean (the snapshot walk asks about every path it builds): skip the normalisation.
  if (p.startsWith('/') && !p.endsWith('/') && !p.includes('//') && !p.includes('/.')) return p;
  const n = path.posix.normalize(`/${p}`);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

export function createIgnoreList(entries: readonly IgnoreEntry[]): IgnoreList {
  const normalized: IgnoreEntry[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    const p = normalizeRootPath(e.path);
    const prefixOnly = e.prefixOnly === true;
    const key = `${prefixOnly ? 'p' : 'x'}${p}`;
    if (seen.has(key)) continue;
    seen.add(key);
    normalized.push(prefixOnly ? { path: p, prefixOnly } : { path: p });
  }
  const prefixes = normalized.map((e) => (e.path === '/' ? '/' : `${e.path}/`));
  return {
    ignores(rootPath: string): boolean {
      const p = normalizeRootPath(rootPath);
      for (let i = 0; i < normalized.length; i++) {
        const e = normalized[i] as IgnoreEntry;
        if (p === e.path) {
          if (e.prefixOnly !== true) return true;
          continue;
        }
        if (p.startsWith(prefixes[i] ?? '/')) return true;
      }
      return false;
    },
  };
}

/** Decodes the octal escapes the kernel uses in mountinfo (\040 space, \011 tab, \012 newline, \134 backslash). */
function decodeMountinfoField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The mount points listed in /proc/self/mountinfo text (field 5), decoded and de-duplicated,
 * excluding '/' itself (the build root is the image, not a mount to ignore).
 */
export function readMountPoints(mountinfoText: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const line of mountinfoText.split('\n')) {
    const fields = line.trim().split(/[ \t]+/);
    const raw = fields[4];
    if (fields.length < 5 || raw === undefined) continue;
    const mountPoint = decodeMountinfoField(raw);
    if (mountPoint === '/' || !mountPoint.startsWith('/') || seen.has(mountPoint)) continue;
    seen.add(mountPoint);
    out.push(mountPoint);
  }
  return out;
}

export interface DefaultIgnoreOptions {
  /** kaniko's own directory inside the root, e.g. '/kaniko'. */
  /** Omitted when the executor does not live inside the root (--root-dir builds). */
  readonly kanikoDir?: string;
  /** Ignore /var/run (kaniko's --ignore-var-run, default true). */
  readonly ignoreVarRun: boolean;
  /** --ignore-path values. */
  readonly extraPaths: readonly string[];
  /** From readMountPoints; empty in --root-dir mode (the root is a fresh directory). */
  readonly mountPoints: readonly string[];
}

export function defaultIgnoreEntries(opts: DefaultIgnoreOptions): IgnoreEntry[] {
  const entries: IgnoreEntry[] = [
    { path: '/proc' },
    { path: '/sys' },
    { path: '/dev' },
    // /etc/mtab is usually a link into /proc; it may be a runtime mount, never image content.
    { path: '/etc/mtab' },
    // The executor's own directory, when it lives inside the root (container mode); with --root-dir it does not,
    // and a /kaniko inside the root is ordinary image content.
    ...(opts.kanikoDir !== undefined ? [{ path: opts.kanikoDir }] : []),
    // apt-key creates temporary keyrings here (kaniko's default list): contents only.
    { path: '/tmp/apt-key-gpghome', prefixOnly: true },
  ];
  if (opts.ignoreVarRun) entries.push({ path: '/var/run' });
  for (const m of opts.mountPoints) entries.push({ path: m });
  for (const p of opts.extraPaths) entries.push({ path: p });
  return entries;
}
