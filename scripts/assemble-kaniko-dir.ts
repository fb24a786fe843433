// Assembles the executor's self-contained runtime directory, as the executor image ships it:
//   <outRoot>/kaniko/{executor,warmer}   static launchers (native/launcher.c): start node via lib/'s own loader
//   <outRoot>/kaniko/node, lib/          Node and the shared libraries `ldd node` lists (with the loader)
//   <outRoot>/kaniko/app/*.mjs           one esbuild bundle per program
//   <outRoot>/kaniko/run-in-root         RUN's static helper
//   <outRoot>/kaniko/fakeroot-supervisor non-root RUN's static supervisor (ptrace + seccomp)
//   <outRoot>/kaniko/ssl/certs/ca-certificates.crt, .docker/, tmp/
//   <outRoot>/etc/nsswitch.conf          "hosts: files dns" (glibc's resolver order; kaniko's image ships it)
// Why everything under one directory: in container mode the image's base rootfs is unpacked over '/' and '/'
// is wiped between stages, so the executor may rely on nothing outside its own (always ignored) directory.
//
// Usage: node scripts/assemble-kaniko-dir.ts OUT_ROOT   (prints the directory's size and its gzip size)
//        node scripts/assemble-kaniko-dir.ts --packages   (the node_modules packages the bundles use, one a line)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, lstat, realpath, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';

const exec = promisify(execFile);
const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const loaderName = 'ld-linux-x86-64.so.2';

// ESM output has no `require`; CommonJS dependencies bundled by esbuild call it for node: built-ins.
const requireBanner = "import { createRequire as __kanikoCreateRequire } from 'node:module';\n" +
  'const require = __kanikoCreateRequire(import.meta.url);';

export interface AssembleOptions {
  /** The Node binary to ship (default: the project's .tools/node/bin/node). */
  readonly node?: string;
  /** The CA bundle to ship (default: the host's Debian bundle). */
  readonly caBundle?: string;
}

export interface AssembledDir {
  /** <outRoot>/kaniko */
  readonly dir: string;
  readonly executor: string;
  readonly warmer: string;
}

/** Shared libraries of `binary` as ldd resolves them on this host: [soname, host path]. The loader included. */
export async function sharedLibraries(binary: string): Promise<Array<[string, string]>> {
  const { stdout } = await exec('ldd', [binary], { timeout: 30_000 });
  const libs: Array<[string, string]> = [];
  for (const line of stdout.split('\n')) {
    const mapped = /^\s*(\S+)\s+=>\s+(\/\S+)\s+\(/.exec(line);
    if (mapped?.[1] !== undefined && mapped[2] !== undefined) { libs.push([mapped[1], mapped[2]]); continue; }
    const direct = /^\s*(\/\S+)\s+\(/.exec(line);
    if (direct?.[1] !== undefined) libs.push([basename(direct[1]), direct[1]]);
  }
  if (!libs.some(([name]) => name === loaderName)) throw new Error(`ldd ${binary}: no ${loaderName} (not an x86-64 glibc binary?)`);
  return libs;
}

async function bundle(entry: string, outfile: string): Promise<void> {
  const result = await esbuild({
    entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node24',
    banner: { js: requireBanner }, logLevel: 'silent', legalComments: 'none',
  });
  for (const w of result.warnings) process.stderr.write(`assemble: esbuild: ${w.text}\n`);
}

/**
 * The node_modules packages the bundles are made of (esbuild's metafile): what Dockerfile.executor.dockerignore
 * must let into the image build's context. Names as in node_modules ('pino', '@azure/core-util').
 */
export async function bundledPackages(): Promise<string[]> {
  const names = new Set<string>();
  for (const program of ['executor', 'warmer']) {
    const result = await esbuild({
      entryPoints: [join(projectRoot, 'src', 'cli', `${program}.ts`)], outfile: join(projectRoot, 'out', `${program}.mjs`),
      bundle: true, platform: 'node', format: 'esm', target: 'node24', write: false, metafile: true, logLevel: 'silent',
    });
    for (const input of Object.keys(result.metafile.inputs)) {
      const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      if (m?.[1] !== undefined) names.add(m[1]);
    }
  }
  return [...names].sort();
}

async function ensureNativeHelpers(): Promise<string> {
  await exec('bash', [join(projectRoot, 'scripts', 'build-native.sh')], { timeout: 120_000 });
  return join(projectRoot, '.tools', 'bin');
}

export async function assembleKanikoDir(outRoot: string, opts: AssembleOptions = {}): Promise<AssembledDir> {
  const dir = join(outRoot, 'kaniko');
  await rm(dir, { recursive: true, force: true });
  for (const d of ['lib', 'app', 'ssl/certs', '.docker', 'tmp']) await mkdir(join(dir, d), { recursive: true });
  await chmod(join(dir, 'tmp'), 0o1777);
  const native = await ensureNativeHelpers();
  const node = await realpath(opts.node ?? join(projectRoot, '.tools', 'node', 'bin', 'node'));

  await Promise.all([
    bundle(join(projectRoot, 'src', 'cli', 'executor.ts'), join(dir, 'app', 'executor.mjs')),
    bundle(join(projectRoot, 'src', 'cli', 'warmer.ts'), join(dir, 'app', 'warmer.mjs')),
  ]);
  await copyFile(node, join(dir, 'node'));
  // Node's symbol table is ~18 MB of the image and nothing at run time reads it; no `strip`: shipped as is.
  await exec('strip', ['--strip-all', join(dir, 'node')], { timeout: 120_000 }).catch(() => undefined);
  // copyFile dereferences symlinks: lib/ holds real files under the names the loader asks for.
  for (const [name, hostPath] of await sharedLibraries(node)) await copyFile(hostPath, join(dir, 'lib', name));
  await copyFile(join(native, 'launcher'), join(dir, 'executor'));
  await copyFile(join(native, 'launcher'), join(dir, 'warmer'));
  await copyFile(join(native, 'run-in-root'), join(dir, 'run-in-root'));
  // Not built where ptrace's registers are not known (scripts/build-native.sh): non-root RUN then says so.
  const supervisor = existsSync(join(native, 'fakeroot-supervisor'));
  if (supervisor) await copyFile(join(native, 'fakeroot-supervisor'), join(dir, 'fakeroot-supervisor'));
  for (const f of ['executor', 'warmer', 'run-in-root', ...(supervisor ? ['fakeroot-supervisor'] : []), 'node', `lib/${loaderName}`]) await chmod(join(dir, f), 0o755);
  await copyFile(opts.caBundle ?? '/etc/ssl/certs/ca-certificates.crt', join(dir, 'ssl', 'certs', 'ca-certificates.crt'));

  await mkdir(join(outRoot, 'etc'), { recursive: true });
  await writeFile(join(outRoot, 'etc', 'nsswitch.conf'), 'hosts: files dns\n');
  return { dir, executor: join(dir, 'executor'), warmer: join(dir, 'warmer') };
}

/** Bytes of the regular files below `path` (symlinks not followed). */
export async function treeSize(path: string): Promise<number> {
  const st = await lstat(path);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of await readdir(path)) total += await treeSize(join(path, name));
  return total;
}

/** Size of `tar czf - <name>` run in `parent`: what the directory weighs as a gzip'd image layer. */
export async function gzipTarSize(parent: string, name: string): Promise<number> {
  const { stdout } = await exec('sh', ['-c', 'tar czf - -C "$1" "$2" | wc -c', 'sh', parent, name], { timeout: 300_000 });
  return Number(stdout.trim());
}

if (import.meta.main) {
  if (process.argv[2] === '--packages') {
    process.stdout.write(`${(await bundledPackages()).join('\n')}\n`);
    process.exit(0);
  }
  const out = process.argv[2];
  if (out === undefined) {
    process.stderr.write('usage: node scripts/assemble-kaniko-dir.ts OUT_ROOT\n');
    process.exit(2);
  }
  const started = Date.now();
  const { dir } = await assembleKanikoDir(out);
  const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  process.stdout.write(`${dir}: ${mib(await treeSize(dir))}, ${mib(await gzipTarSize(out, 'kaniko'))} as tar.gz ` +
    `(assembled in ${Date.now() - started} ms)\n`);
}
