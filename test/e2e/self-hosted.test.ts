// Self-hosted end to end: bin/executor builds the executor image from Dockerfile.executor (the repository is the
// context, the builder base comes from the test registry) and pushes it; that image then runs as a real container
// (runc on an OCI bundle made by skopeo + umoci, a context directory bind-mounted at /workspace), builds a
// Debian-based Dockerfile with RUN steps in container mode and pushes it; the result runs under runc in turn.
// Also: Dockerfile.warmer and Dockerfile.debug built FROM that image, and the context's ignore file checked
// against what the bundles are made of.
// Prints (console.log, "self-hosted:" prefix) the image's compressed size and the container's start-up times.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundledPackages } from '../../scripts/assemble-kaniko-dir.ts';
import { loadDockerignore } from '../../src/context/dockerignore.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { debianBase, debianMirror, DebianUnavailable, mirrorReachable } from '../support/debian-base.ts';
import { projectRoot, runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage, skopeoConfig } from '../support/run-image.ts';

const exec = promisify(execFile);
const MB = 1_000_000;

let registry: TestRegistry;
let work: string;
let debian: string | undefined;
let skipReason: string | undefined;
let busybox: string;

before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'self-hosted-'));
  busybox = `${registry.host}/busybox:latest`;
  const [deb] = await Promise.all([
    debianBase(registry.host).catch((err: unknown) => {
      if (err instanceof DebianUnavailable) { skipReason = `no Debian base: ${err.message}`; return undefined; }
      throw err;
    }),
    pushBusyboxBase(busybox),
  ]);
  debian = deb;
  // The build stage installs ca-certificates and binutils from the base's Debian mirror.
  if (skipReason === undefined && !await mirrorReachable(await debianMirror())) skipReason = `the Debian mirror ${await debianMirror()} is unreachable`;
  // The context must hold Node 24 where Dockerfile.executor takes it (scripts/setup.sh puts it there).
  if (skipReason === undefined) {
    await lstat(join(projectRoot, '.tools', 'node', 'bin', 'node')).catch(() => { skipReason = 'no .tools/node/bin/node in the checkout (run scripts/setup.sh)'; });
  }
  if (skipReason !== undefined) console.error(`self-hosted: SKIPPING the image builds: ${skipReason}`);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

interface RawManifest { layers: Array<{ size: number; digest: string }> }

async function rawManifest(ref: string): Promise<RawManifest> {
  const { stdout } = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as RawManifest;
}

/** bin/executor in --root-dir mode with a fresh root; fails the test with the log on a non-zero exit. */
async function hostBuild(name: string, args: readonly string[]): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  const run = await runExecutor([
    `--context=dir://${projectRoot}`, `--root-dir=${join(dir, 'root')}`, `--digest-file=${join(dir, 'digest')}`,
    '--insecure', '--insecure-pull', '--log-format=text', ...args,
  ], { timeoutMs: 540_000 });
  assert.equal(run.code, 0, `building ${name} failed:\n${run.stderr}\n${run.stdout}`);
  return run.stderr + run.stdout;
}

/** Docker's default capability set: what an executor container gets from a plain `docker run` or a Pod. */
const dockerDefaultCaps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

interface RuntimeSpec {
  process: { terminal: boolean; args: string[]; env: string[]; capabilities: Record<string, string[]> };
  mounts: Array<Record<string, unknown>>;
  linux: { namespaces: Array<{ type: string }> };
}

/** skopeo copy + umoci unpack: an OCI runtime bundle of `ref` under the work directory. */
async function unpackBundle(ref: string, name: string): Promise<{ bundle: string; rootfs: string; configPath: string }> {
  const layout = join(work, `${name}-layout`);
  const bundle = join(work, name);
  await exec('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:img`], { maxBuffer: 16 << 20, timeout: 300_000 });
  await exec('umoci', ['unpack', '--image', `${layout}:img`, bundle], { maxBuffer: 16 << 20, timeout: 300_000 });
  return { bundle, rootfs: join(bundle, 'rootfs'), configPath: join(bundle, 'config.json') };
}

/**
 * Edits a bundle's config.json: no terminal, the host's network namespace (the registry listens on the host's
 * loopback) and Docker's default capabilities (umoci grants three; a container runtime's default set is what
 * kaniko is documented for), then whatever `edit` changes.
 */
async function editSpec(configPath: string, edit: (spec: RuntimeSpec) => void): Promise<void> {
  const spec = JSON.parse(await readFile(configPath, 'utf8')) as RuntimeSpec;
  spec.process.terminal = false;
  spec.process.capabilities = { bounding: dockerDefaultCaps, effective: dockerDefaultCaps, permitted: dockerDefaultCaps, inheritable: [], ambient: [] };
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
  edit(spec);
  await writeFile(configPath, JSON.stringify(spec));
}

interface RuncRun { code: number; stdout: string; stderr: string; firstLogMs?: number; firstStageMs?: number; firstStepMs?: number; totalMs: number }

/** `runc run` with stderr read as it streams: when the first log line, stage line and instruction line appear. */
function runcRun(bundle: string, id: string, timeoutMs: number): Promise<RuncRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('runc', ['run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const seen: { firstLogMs?: number; firstStageMs?: number; firstStepMs?: number } = {};
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const at = Date.now() - started;
      if (seen.firstLogMs === undefined && /^INFO/m.test(stderr)) seen.firstLogMs = at;
      if (seen.firstStageMs === undefined && /^INFO.*Building stage/m.test(stderr)) seen.firstStageMs = at;
      if (seen.firstStepMs === undefined && /^INFO\S*\s+\[[^\]]*\] (RUN|COPY|ADD|WORKDIR|ENV|USER) /m.test(stderr)) seen.firstStepMs = at;
    });
    const timer = setTimeout(() => { void exec('runc', ['kill', id, 'KILL']).catch(() => undefined); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr, ...seen, totalMs: Date.now() - started });
    });
  });
}

test('Dockerfile.executor.dockerignore lets in every package the bundles are made of, and keeps the rest out', { timeout: 120_000 }, async () => {
  const ignore = await loadDockerignore(projectRoot, 'Dockerfile.executor');
  const missing = (await bundledPackages()).filter((p) => ignore.matches(`node_modules/${p}/package.json`));
  assert.deepEqual(missing, [], `add these to Dockerfile.executor.dockerignore: ${missing.map((p) => `!node_modules/${p}/`).join(' ')}`);
  for (const kept of ['package.json', 'src/cli/executor.ts', 'scripts/assemble-kaniko-dir.ts', 'native/launcher.c',
    '.tools/node/bin/node', '.tools/bin/launcher', 'node_modules/esbuild/package.json', 'node_modules/@esbuild/linux-x64/bin/esbuild']) {
    assert.equal(ignore.matches(kept), false, `${kept} must be in the context`);
  }
  for (const left of ['.git/HEAD', '.cache/x', 'out/hello.digest', 'test/e2e/self-hosted.test.ts', 'src/cli/flags.test.ts',
    'node_modules/azurite/package.json', 'node_modules/typescript/package.json', 'node_modules/@types/node/index.d.ts', 'bench/x']) {
    assert.equal(ignore.matches(left), true, `${left} must stay out of the context`);
  }
});

let executorImage: string | undefined;

test('self-hosted: the executor builds its own image, which builds and pushes a Debian image under runc', { timeout: 580_000 }, async (t) => {
  if (skipReason !== undefined || debian === undefined) { t.skip(skipReason); return; }
  const image = `${registry.host}/kaniko-ts/executor:test`;
  const started = Date.now();
  await hostBuild('executor', ['--dockerfile=Dockerfile.executor', `--build-arg=BUILDER_IMAGE=${debian}`, `--destination=${image}`]);
  const buildMs = Date.now() - started;

  // The image: kaniko's layout and config, and small.
  const manifest = await rawManifest(image);
  const compressed = manifest.layers.reduce((n, l) => n + l.size, 0);
  console.log(`self-hosted: executor image ${image}: ${manifest.layers.length} layers, ${compressed} bytes compressed ` +
    `(${(compressed / MB).toFixed(1)} MB, ${(compressed / 1048576).toFixed(1)} MiB); built in ${(buildMs / 1000).toFixed(0)} s`);
  assert.ok(compressed > 20 * MB, `the image is suspiciously small (${compressed} bytes): /kaniko missing from its layers?`);
  assert.ok(compressed <= 60 * MB, `the executor image is ${compressed} bytes compressed; the target is ≤ 60 MB`);
  const config = (await skopeoConfig(`docker://${image}`, ['--tls-verify=false'])) as { config: Record<string, unknown> };
  assert.deepEqual(config.config['Entrypoint'], ['/kaniko/executor']);
  assert.equal(config.config['WorkingDir'], '/workspace');
  const env = config.config['Env'] as string[];
  for (const e of ['PATH=/usr/local/bin:/kaniko', 'HOME=/root', 'USER=root', 'SSL_CERT_DIR=/kaniko/ssl/certs', 'DOCKER_CONFIG=/kaniko/.docker/']) {
    assert.ok(env.includes(e), `Env lacks ${e}: ${env.join(' ')}`);
  }
  executorImage = image;

  // Unpacked into a runtime bundle: the whole filesystem is /kaniko, /etc/nsswitch.conf and /workspace.
  const { bundle, rootfs, configPath } = await unpackBundle(image, 'bundle');
  assert.deepEqual((await readdir(rootfs)).sort(), ['etc', 'kaniko', 'workspace']);
  assert.deepEqual(await readdir(join(rootfs, 'etc')), ['nsswitch.conf']);
  for (const p of ['executor', 'warmer', 'node', 'run-in-root', 'fakeroot-supervisor', 'lib/ld-linux-x86-64.so.2', 'app/executor.mjs', 'ssl/certs/ca-certificates.crt', '.docker']) {
    await lstat(join(rootfs, 'kaniko', p));
  }

  // The build it runs: Debian, RUN as root and as a user, COPY from the bind-mounted context.
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'message.txt'), 'hello from the context\n');
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${debian}`,
    'RUN useradd --create-home --uid 1234 builder && echo "user: $(id -un builder) $(id -u builder)" > /greeting',
    'COPY message.txt /message.txt',
    'USER builder',
    'RUN whoami > /home/builder/me && echo "debian $(cut -d. -f1 /etc/debian_version)" >> /home/builder/me',
    'USER root',
    'RUN cat /home/builder/me /message.txt >> /greeting',
    'CMD ["cat", "/greeting"]',
    '',
  ].join('\n'));
  const destination = `${registry.host}/selfbuilt:latest`;
  await editSpec(configPath, (spec) => {
    spec.process.args = ['/kaniko/executor', '--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull', '--log-format=text'];
    spec.process.env.push('container=runc');
    spec.mounts.push({ destination: '/workspace', type: 'bind', source: context, options: ['rbind', 'rw'] });
  });

  const id = `kts-selfhosted-${process.pid}-${Date.now()}`;
  let run: RuncRun;
  try {
    run = await runcRun(bundle, id, 300_000);
  } finally {
    await exec('runc', ['delete', '--force', id]).catch(() => undefined);
  }
  const ms = (v: number | undefined): string => (v === undefined ? '?' : `${v} ms`);
  console.log(`self-hosted: runc run → first log line ${ms(run.firstLogMs)}, → "Building stage" ${ms(run.firstStageMs)}, ` +
    `→ first instruction ${ms(run.firstStepMs)}; whole build and push ${run.totalMs} ms`);
  assert.equal(run.code, 0, `the executor container failed:\n${run.stderr}\n${run.stdout}`);
  assert.match(run.stderr, /Pushed .*selfbuilt:latest/);
  // Container mode built into the container's own '/': Debian's files are there, /kaniko is intact.
  await lstat(join(rootfs, 'etc', 'debian_version'));
  await lstat(join(rootfs, 'kaniko', 'node'));

  const { stdout } = await runImage(`docker://${destination}`);
  assert.equal(stdout, 'user: builder 1234\nbuilder\ndebian 12\nhello from the context\n');
});

test('Dockerfile.warmer and Dockerfile.debug build FROM the executor image', { timeout: 400_000 }, async (t) => {
  if (executorImage === undefined) { t.skip(skipReason ?? 'the executor image was not built'); return; }
  const warmer = `${registry.host}/kaniko-ts/warmer:test`;
  const debug = `${registry.host}/kaniko-ts/executor:debug`;
  await hostBuild('warmer', ['--dockerfile=Dockerfile.warmer', `--build-arg=EXECUTOR_IMAGE=${executorImage}`, `--destination=${warmer}`]);
  await hostBuild('debug', ['--dockerfile=Dockerfile.debug', `--build-arg=EXECUTOR_IMAGE=${executorImage}`,
    `--build-arg=BUSYBOX_IMAGE=${busybox}`, `--destination=${debug}`]);

  const warmerConfig = (await skopeoConfig(`docker://${warmer}`, ['--tls-verify=false'])) as { config: Record<string, unknown> };
  assert.deepEqual(warmerConfig.config['Entrypoint'], ['/kaniko/warmer']);
  // Same layers as the executor: only the config differs.
  assert.deepEqual((await rawManifest(warmer)).layers.map((l) => l.digest), (await rawManifest(executorImage)).layers.map((l) => l.digest));
  const warmerRun = await runImage(`docker://${warmer}`, { args: ['/kaniko/warmer', '--help'] });
  assert.match(warmerRun.stdout, /^Usage: warmer/m);

  const debugConfig = (await skopeoConfig(`docker://${debug}`, ['--tls-verify=false'])) as { config: Record<string, unknown> };
  assert.deepEqual(debugConfig.config['Entrypoint'], ['/kaniko/executor']);
  assert.deepEqual(debugConfig.config['Volumes'], { '/busybox': {} });
  assert.ok((debugConfig.config['Env'] as string[]).includes('PATH=/usr/local/bin:/kaniko:/busybox'));
  const debugLayers = (await rawManifest(debug)).layers;
  console.log(`self-hosted: debug image ${debug}: ${debugLayers.reduce((n, l) => n + l.size, 0)} bytes compressed`);
  // A shell: /bin/sh → /busybox/sh, with the executor beside it.
  // umoci turns each VOLUME into an empty tmpfs; Docker fills an anonymous volume from the image and Kubernetes
  // mounts nothing there: either way /busybox holds busybox, so the bundle drops that mount.
  const { bundle, configPath } = await unpackBundle(debug, 'debug-bundle');
  await editSpec(configPath, (spec) => {
    spec.process.args = ['/bin/sh', '-c', 'echo "$PATH"; test -x /kaniko/executor && echo executor; /kaniko/executor version >/dev/null && echo runs'];
    spec.mounts = spec.mounts.filter((m) => m['destination'] !== '/busybox');
  });
  const id = `kts-selfhosted-debug-${process.pid}-${Date.now()}`;
  let shell: RuncRun;
  try {
    shell = await runcRun(bundle, id, 60_000);
  } finally {
    await exec('runc', ['delete', '--force', id]).catch(() => undefined);
  }
  assert.equal(shell.code, 0, shell.stderr);
  assert.equal(shell.stdout, '/usr/local/bin:/kaniko:/busybox\nexecutor\nruns\n');
});
