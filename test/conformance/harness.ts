// The conformance harness: the same Dockerfile built by our executor and by buildah (the reference), both pushed to
// the test registry, pulled back with skopeo, flattened with umoci (an implementation independent of ours) and
// compared entry by entry and config field by config field. buildah is a reference, not the spec: each case lists
// the differences it allows, each with the reason (and, for config fields, Docker's documented value, which the
// executor must produce).
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerConfig } from '../../src/oci/types.ts';
import { runExecutor } from '../support/executor-process.ts';
import { skopeoConfig } from '../support/run-image.ts';

const exec = promisify(execFile);

export interface BuildOptions {
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly timeoutMs?: number;
}

export interface BuildResult {
  readonly code: number;
  /** What the builder printed (stdout and stderr), for failure messages. */
  readonly output: string;
}

/** One buildah storage (overlay driver) shared by every case of a run, so pulled bases and layers are reused. */
export interface BuildahStorage {
  readonly root: string;
  readonly runroot: string;
}

function buildahGlobal(storage: BuildahStorage): string[] {
  return ['--root', storage.root, '--runroot', storage.runroot, '--storage-driver', 'overlay'];
}

function spawnCollect(cmd: string, args: readonly string[], timeoutMs: number): Promise<BuildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), output });
    });
  });
}

/**
 * `buildah bud --isolation chroot --format docker --layers` (Docker's overlay2-like layers from the overlay upper
 * directory), then `buildah push` to `destination` (registry/repo:tag, plain HTTP). Base images come from the
 * test registry named in the Dockerfile's FROM.
 */
export async function buildWithBuildah(contextDir: string, dockerfile: string, destination: string,
  opts: BuildOptions & { storage: BuildahStorage }): Promise<BuildResult> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const local = `localhost/conformance/${destination.replace(/^[^/]+\//, '').replace(/[^a-z0-9._/-]/g, '-')}`;
  const args = [...buildahGlobal(opts.storage), 'bud', '--isolation', 'chroot', '--format', 'docker', '--layers',
    '--tls-verify=false', '-f', dockerfile, '-t', local];
  for (const [k, v] of Object.entries(opts.buildArgs ?? {})) args.push('--build-arg', `${k}=${v}`);
  if (opts.target !== undefined) args.push('--target', opts.target);
  args.push(contextDir);
  const built = await spawnCollect('buildah', args, timeoutMs);
  if (built.code !== 0) return built;
  const pushed = await spawnCollect('buildah', [...buildahGlobal(opts.storage), 'push', '--tls-verify=false', local,
    `docker://${destination}`], timeoutMs);
  return { code: pushed.code, output: `${built.output}\n${pushed.output}` };
}

/** Removes buildah's images and containers, then the storage (overlay mounts are gone once nothing uses them). */
export async function removeBuildahStorage(storage: BuildahStorage): Promise<void> {
  await spawnCollect('buildah', [...buildahGlobal(storage), 'rm', '--all'], 60_000).catch(() => undefined);
  await spawnCollect('buildah', [...buildahGlobal(storage), 'rmi', '--all', '--force'], 120_000).catch(() => undefined);
  await rm(storage.root, { recursive: true, force: true });
  await rm(storage.runroot, { recursive: true, force: true });
}

/** Our executor as a user runs it: a dir:// context, a throwaway --root-dir, plain-HTTP registry. */
export async function buildWithExecutor(contextDir: string, dockerfile: string, destination: string,
  opts: BuildOptions & { rootDir: string }): Promise<BuildResult> {
  const args = [`--context=dir://${contextDir}`, `--dockerfile=${dockerfile}`, `--destination=${destination}`,
    `--root-dir=${opts.rootDir}`, '--insecure', '--insecure-pull', '--log-format=text'];
  for (const [k, v] of Object.entries(opts.buildArgs ?? {})) args.push(`--build-arg=${k}=${v}`);
  if (opts.target !== undefined) args.push(`--target=${opts.target}`);
  const run = await runExecutor(args, { timeoutMs: opts.timeoutMs ?? 300_000 });
  return { code: run.code, output: `${run.stdout}${run.stderr}` };
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

export interface FsEntry {
  readonly path: string;
  readonly type: EntryType;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777), octal text for readable diffs. */
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  /** Regular files only. */
  readonly size?: number;
  readonly sha256?: string;
  readonly linkTarget?: string;
  /** For the second and later names of a hardlinked file: the first name (in sorted order). */
  readonly hardlinkTo?: string;
  /** Device numbers of char/block devices. */
  readonly rdev?: number;
}

export interface FlatImage {
  readonly ref: string;
  readonly entries: readonly FsEntry[];
  readonly config: ContainerConfig;
  readonly layerCount: number;
}

function typeOf(st: Awaited<ReturnType<typeof lstat>>): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'socket';
}

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every entry under `root` (root itself excluded), in sorted path order, as '/a/b' paths. */
export async function manifestOfTree(root: string): Promise<FsEntry[]> {
  const out: FsEntry[] = [];
  const inodes = new Map<string, string>();
  const walk = async (hostDir: string, imageDir: string): Promise<void> => {
    const names = (await readdir(hostDir)).sort();
    for (const name of names) {
      const host = join(hostDir, name);
      const path = imageDir === '/' ? `/${name}` : `${imageDir}/${name}`;
      const st = await lstat(host);
      const type = typeOf(st);
      const base = { path, type, mode: (st.mode & 0o7777).toString(8).padStart(4, '0'), uid: st.uid, gid: st.gid };
      if (type === 'dir') {
        out.push(base);
        await walk(host, path);
        continue;
      }
      const inodeKey = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(inodeKey) : undefined;
      if (st.nlink > 1 && first === undefined) inodes.set(inodeKey, path);
      const link = first === undefined ? {} : { hardlinkTo: first };
      if (type === 'file') out.push({ ...base, size: st.size, sha256: await sha256File(host), ...link });
      else if (type === 'symlink') out.push({ ...base, linkTarget: await readlink(host) });
      else if (type === 'char' || type === 'block') out.push({ ...base, rdev: st.rdev, ...link });
      else out.push({ ...base, ...link });
    }
  };
  await walk(root, '/');
  return out;
}

/**
 * Pulls `ref` (registry/repo:tag over plain HTTP) into an OCI layout with skopeo, applies its layers in order with
 * umoci (whiteouts and opaque directories included) and lists the resulting tree; the config comes from the registry.
 */
export async function flattenImage(ref: string, workDir: string): Promise<FlatImage> {
  await mkdir(workDir, { recursive: true });
  const layout = join(workDir, 'layout');
  const bundle = join(workDir, 'bundle');
  try {
    await exec('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:img`], { maxBuffer: 16 << 20, timeout: 300_000 });
    await exec('umoci', ['unpack', '--image', `${layout}:img`, bundle], { maxBuffer: 64 << 20, timeout: 300_000 });
    const entries = await manifestOfTree(join(bundle, 'rootfs'));
    // --raw: without it skopeo converts to the OCI config, which has no Shell or Healthcheck (compared as absent on both sides).
    const full = await skopeoConfig(`docker://${ref}`, ['--raw', '--tls-verify=false']);
    const config = (full['config'] ?? {}) as ContainerConfig;
    const layerCount = ((full['rootfs'] as { diff_ids?: unknown[] } | undefined)?.diff_ids ?? []).length;
    return { ref, entries, config, layerCount };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

export const comparedConfigFields = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels',
  'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'] as const;
export type ConfigField = typeof comparedConfigFields[number];

/** A difference a case (or the whole suite) allows, with the reason. */
export interface AllowedDifference {
  /** An image path, or a subtree as '/dir/**'. */
  readonly path?: string;
  /** Which builder alone has the path (omitted: either, or both with different fields). */
  readonly only?: 'executor' | 'buildah';
  /** With both present: the fields allowed to differ (omitted: any). */
  readonly fields?: readonly string[];
  /** Allowed only when buildah's entry is an empty directory or an empty file (a mount point it left behind). */
  readonly emptyOnly?: boolean;
  readonly config?: ConfigField;
  /** Docker's documented value of `config`: the executor must have exactly this. */
  readonly docker?: unknown;
  readonly reason: string;
}

export type Difference =
  | { readonly kind: 'fs'; readonly path: string; readonly executor?: FsEntry; readonly buildah?: FsEntry; readonly fields: readonly string[] }
  | { readonly kind: 'config'; readonly field: ConfigField; readonly executor: unknown; readonly buildah: unknown };

export interface Comparison {
  /** Differences no allowance covers: the test fails on these. */
  readonly undocumented: readonly Difference[];
  /** Differences covered by an allowance, with its reason. */
  readonly documented: readonly { readonly difference: Difference; readonly reason: string }[];
  /** Where the executor's config departs from a stated Docker value. */
  readonly dockerMismatches: readonly string[];
  readonly report: string;
}

/** buildah-only labels: its version stamp is not part of the Dockerfile. */
const BUILDAH_LABELS: readonly string[] = ['io.buildah.version'];

/** Empty values and absent ones mean the same to a runtime; undefined stands for both. */
function normalizeConfigValue(field: ConfigField, value: unknown, side: 'executor' | 'buildah'): unknown {
  if (value === null || value === undefined || value === '') return undefined;
  // The raw docker config has [] where the converted OCI one had nothing (buildah writes OnBuild: [], Entrypoint: []).
  if (Array.isArray(value) && value.length === 0) return undefined;
  if (field === 'Labels' && typeof value === 'object' && side === 'buildah') {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const l of BUILDAH_LABELS) delete copy[l];
    value = copy;
  }
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value as object).length === 0) return undefined;
  if (field === 'Healthcheck' && typeof value === 'object') {
    // Zero durations are Docker's "inherit the default"; a missing key means the same.
    const h = Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== 0 && v !== undefined));
    return h;
  }
  return value;
}

function stable(value: unknown): string {
  if (value === undefined) return '(absent)';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${stable(obj[k])}`).join(',')}}`;
}

const entryFields = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'linkTarget', 'hardlinkTo', 'rdev'] as const;

function pathMatches(pattern: string, path: string): boolean {
  if (pattern.endsWith('/**')) {
    const dir = pattern.slice(0, -3);
    return path === dir || path.startsWith(`${dir}/`);
  }
  return pattern === path;
}

function describeEntry(e: FsEntry | undefined): string {
  if (e === undefined) return '(absent)';
  const parts = [e.type, e.mode, `${e.uid}:${e.gid}`];
  if (e.size !== undefined) parts.push(`${e.size}B`, (e.sha256 ?? '').slice(0, 12));
  if (e.linkTarget !== undefined) parts.push(`-> ${e.linkTarget}`);
  if (e.hardlinkTo !== undefined) parts.push(`hardlink of ${e.hardlinkTo}`);
  return parts.join(' ');
}

export function describeDifference(d: Difference): string {
  if (d.kind === 'config') return `config ${d.field}: executor ${stable(d.executor)} | buildah ${stable(d.buildah)}`;
  const what = d.executor === undefined ? 'only in buildah' : d.buildah === undefined ? 'only in executor' : `differs in ${d.fields.join(', ')}`;
  return `${d.path} ${what}: executor ${describeEntry(d.executor)} | buildah ${describeEntry(d.buildah)}`;
}

function isEmptyEntry(e: FsEntry, all: ReadonlyMap<string, FsEntry>): boolean {
  if (e.type === 'file') return e.size === 0;
  if (e.type !== 'dir') return false;
  for (const p of all.keys()) if (p.startsWith(`${e.path}/`)) return false;
  return true;
}

/** Compares the executor's image with buildah's; `allowed` decides which differences are documented. */
export function compareImages(executor: FlatImage, buildah: FlatImage, allowed: readonly AllowedDifference[]): Comparison {
  const differences: Difference[] = [];
  const ours = new Map(executor.entries.map((e) => [e.path, e]));
  const theirs = new Map(buildah.entries.map((e) => [e.path, e]));
  const paths = [...new Set([...ours.keys(), ...theirs.keys()])].sort();
  for (const path of paths) {
    const a = ours.get(path);
    const b = theirs.get(path);
    if (a === undefined || b === undefined) {
      differences.push({ kind: 'fs', path, ...(a === undefined ? {} : { executor: a }), ...(b === undefined ? {} : { buildah: b }), fields: [] });
      continue;
    }
    const fields = entryFields.filter((f) => a[f] !== b[f]);
    if (fields.length > 0) differences.push({ kind: 'fs', path, executor: a, buildah: b, fields });
  }
  const dockerMismatches: string[] = [];
  for (const field of comparedConfigFields) {
    const a = normalizeConfigValue(field, executor.config[field], 'executor');
    const b = normalizeConfigValue(field, buildah.config[field], 'buildah');
    const stated = allowed.find((al) => al.config === field && 'docker' in al);
    if (stated !== undefined && stable(a) !== stable(normalizeConfigValue(field, stated.docker, 'executor'))) {
      dockerMismatches.push(`config ${field}: executor ${stable(a)}, Docker documents ${stable(stated.docker)} (${stated.reason})`);
    }
    if (stable(a) !== stable(b)) differences.push({ kind: 'config', field, executor: a, buildah: b });
  }

  const covers = (al: AllowedDifference, d: Difference): boolean => {
    if (d.kind === 'config') return al.config === d.field;
    if (al.path === undefined || !pathMatches(al.path, d.path)) return false;
    if (al.only === 'executor' && (d.executor === undefined || d.buildah !== undefined)) return false;
    if (al.only === 'buildah' && (d.buildah === undefined || d.executor !== undefined)) return false;
    if (al.emptyOnly === true && (d.buildah === undefined || !isEmptyEntry(d.buildah, theirs))) return false;
    if (al.fields !== undefined && (d.executor === undefined || d.buildah === undefined || d.fields.some((f) => !al.fields?.includes(f)))) return false;
    return true;
  };
  const undocumented: Difference[] = [];
  const documented: { difference: Difference; reason: string }[] = [];
  for (const d of differences) {
    const al = allowed.find((x) => covers(x, d));
    if (al === undefined) undocumented.push(d);
    else documented.push({ difference: d, reason: al.reason });
  }
  const lines = [
    `executor ${executor.ref}: ${executor.entries.length} entries, ${executor.layerCount} layers; buildah ${buildah.ref}: ${buildah.entries.length} entries, ${buildah.layerCount} layers`,
    ...dockerMismatches.map((m) => `NOT DOCKER'S RESULT  ${m}`),
    ...undocumented.slice(0, 60).map((d) => `UNDOCUMENTED  ${describeDifference(d)}`),
    ...(undocumented.length > 60 ? [`UNDOCUMENTED  … and ${undocumented.length - 60} more`] : []),
    ...documented.map(({ difference, reason }) => `documented    ${describeDifference(difference)}  [${reason}]`),
  ];
  return { undocumented, documented, dockerMismatches, report: lines.join('\n') };
}

/**
 * What buildah's chroot isolation leaves in an image when a RUN step creates mount points the base lacks: empty
 * /dev, /proc, /sys and /run directories and empty /etc/hosts, /etc/hostname, /etc/resolv.conf files. Docker
 * mounts these over its own init layer, which never reaches the image, so Docker's result is: absent.
 */
export const buildahChrootArtifacts: readonly AllowedDifference[] = [
  ...['/dev', '/proc', '/sys', '/run'].map((path) => ({
    path, only: 'buildah' as const, emptyOnly: true,
    reason: 'buildah chroot leaves an empty mount-point directory; Docker\'s image has none',
  })),
  ...['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'].map((path) => ({
    path, only: 'buildah' as const, emptyOnly: true,
    reason: 'buildah chroot leaves an empty bind-mount target file; Docker keeps these in its init layer, outside the image',
  })),
];
