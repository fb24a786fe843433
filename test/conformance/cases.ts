// The conformance cases: test/conformance/dockerfiles/<case>/ holds a Dockerfile, its context files and case.json
// (build args, target, setup the repository cannot carry, allowed differences with reasons). A case is built from
// a temporary copy of its directory, so setup (modes git does not keep, empty directories, symlinks, tarballs) never
// touches the checkout.
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AllowedDifference } from './harness.ts';

const exec = promisify(execFile);

export const casesDir = join(dirname(fileURLToPath(import.meta.url)), 'dockerfiles');

export interface CaseSetup {
  /** Directories to create (git keeps no empty ones). */
  readonly mkdir?: readonly string[];
  /** path -> octal mode (git keeps only 644/755). */
  readonly chmod?: Readonly<Record<string, string>>;
  /** link path -> target. */
  readonly symlink?: Readonly<Record<string, string>>;
  /** Tarballs made from a context directory (git should not carry binary fixtures). */
  readonly tar?: readonly { readonly from: string; readonly out: string; readonly gzip?: boolean }[];
}

export interface CaseRunCheck {
  /** Arguments replacing the image's Cmd (omitted: the image's own Entrypoint/Cmd). */
  readonly args?: readonly string[];
  /** A regular expression the container's stdout must match. */
  readonly expect: string;
  /** Also required when the Debian mirror was reachable (the package install ran). */
  readonly expectWithMirror?: string;
}

export interface ConformanceCase {
  readonly name: string;
  readonly dir: string;
  readonly description: string;
  /** Which base the Dockerfile's `ARG BASE` receives; the Debian one may be unavailable (a loud skip). */
  readonly base: 'busybox' | 'debian';
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly target?: string;
  readonly setup: CaseSetup;
  readonly allowed: readonly AllowedDifference[];
  /** The executor's image also runs under runc and prints this. */
  readonly run?: CaseRunCheck;
  /** Whether the Dockerfile has RUN steps (reported, never skipped: they pass once RUN exists). */
  readonly usesRun: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringRecord(v: unknown, what: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isRecord(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new Error(`${what}: expected an object of strings`);
  return v as Record<string, string>;
}

function parseAllowed(v: unknown, what: string): AllowedDifference[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`${what}: allowed must be an array`);
  return v.map((item, i) => {
    if (!isRecord(item) || typeof item['reason'] !== 'string' || item['reason'].length < 10) {
      throw new Error(`${what}: allowed[${i}] needs a reason`);
    }
    if (typeof item['path'] !== 'string' && typeof item['config'] !== 'string') throw new Error(`${what}: allowed[${i}] needs a path or a config field`);
    return item as unknown as AllowedDifference;
  });
}

export async function loadCase(name: string): Promise<ConformanceCase> {
  const dir = join(casesDir, name);
  const what = `${name}/case.json`;
  const raw: unknown = JSON.parse(await readFile(join(dir, 'case.json'), 'utf8'));
  if (!isRecord(raw) || typeof raw['description'] !== 'string') throw new Error(`${what}: needs a description`);
  const dockerfile = await readFile(join(dir, 'Dockerfile'), 'utf8');
  const base = raw['base'] === 'debian' ? 'debian' : 'busybox';
  const run = raw['run'];
  if (run !== undefined && (!isRecord(run) || typeof run['expect'] !== 'string')) throw new Error(`${what}: run needs expect`);
  return {
    name,
    dir,
    description: raw['description'],
    base,
    buildArgs: stringRecord(raw['buildArgs'], `${what} buildArgs`),
    ...(typeof raw['target'] === 'string' ? { target: raw['target'] } : {}),
    setup: isRecord(raw['setup']) ? raw['setup'] as CaseSetup : {},
    allowed: parseAllowed(raw['allowed'], what),
    ...(run === undefined ? {} : { run: run as unknown as CaseRunCheck }),
    usesRun: /^\s*RUN\s/im.test(dockerfile.replace(/^\s*ONBUILD\s+RUN\s.*$/gim, '')),
  };
}

export async function loadCases(): Promise<ConformanceCase[]> {
  const names = (await readdir(casesDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  return Promise.all(names.map(loadCase));
}

/** Copies the case into `contextDir` and applies its setup. Returns the Dockerfile's path. */
export async function prepareContext(c: ConformanceCase, contextDir: string): Promise<string> {
  await cp(c.dir, contextDir, { recursive: true, verbatimSymlinks: true });
  for (const d of c.setup.mkdir ?? []) await mkdir(join(contextDir, d), { recursive: true });
  for (const [link, target] of Object.entries(c.setup.symlink ?? {})) {
    await mkdir(dirname(join(contextDir, link)), { recursive: true });
    await symlink(target, join(contextDir, link));
  }
  for (const [p, mode] of Object.entries(c.setup.chmod ?? {})) await chmod(join(contextDir, p), parseInt(mode, 8));
  for (const t of c.setup.tar ?? []) {
    // Fixed owners, order and times: both builders see the same archive bytes.
    await exec('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1000000000',
      ...(t.gzip === true ? ['-z'] : []), '-C', join(contextDir, t.from), '-cf', join(contextDir, t.out), '.']);
  }
  return join(contextDir, 'Dockerfile');
}
