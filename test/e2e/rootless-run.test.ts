// Non-root RUN (issue 19 item 2): the executor in CONTAINER MODE inside a runc container as a Pod under Pod Security
// Standards "Restricted" runs it (uid 1000, no capabilities, noNewPrivileges, a seccomp profile refusing unshare,
// clone CLONE_NEW*, setns, mount, chroot; the rootfs owned by uid 1000, as the Restricted image variant), RUNs as
// fake root under native/fakeroot-supervisor.c, and pushes an image whose every layer entry (name, type, owner,
// mode, device) is the one the same build gives as root (normal container mode, runc with Docker's capabilities).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmod, cp, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import * as tar from 'tar-stream';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { restrictedVariant } from '../../scripts/restricted-image.ts';
import { emptyImage } from '../../src/oci/empty.ts';
import { layerFromTarFile } from '../../src/oci/layer.ts';
import { appendLayers } from '../../src/oci/mutate.ts';
import { hostPlatform } from '../../src/oci/platform.ts';
import { anonymousKeychain } from '../../src/auth/index.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { remoteImage, writeImage, type RemoteOptions } from '../../src/registry/remote.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { debianBase, debianMirror, DebianUnavailable, mirrorReachable } from '../support/debian-base.ts';
import { layerFiles } from '../support/image-files.ts';
import { aptCase, busyboxCase, busyboxPermissions, debianCase, missingEntry } from '../support/rootless-cases.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runcExecutor } from '../support/runc-executor.ts';
import { tinyDeb } from '../support/tiny-deb.ts';

const exec = promisify(execFile);
const hasRunc = spawnSync('runc', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root (runc)' : !hasRunc && 'needs runc';

/** One line per tar entry: what must agree between the root and the non-root build (not sizes: logs hold times). */
async function entriesOf(stream: NodeJS.ReadableStream): Promise<string[]> {
  const out: string[] = [];
  const extract = tar.extract();
  stream.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    out.push(`${h.name} ${h.type} ${h.uid}:${h.gid} ${(h.mode ?? 0).toString(8)}${h.linkname ? ` -> ${h.linkname}` : ''}`
      + (h.type === 'character-device' || h.type === 'block-device' ? ` dev=${h.devmajor},${h.devminor}` : ''));
    for await (const _ of entry) { /* drain */ }
  }
  return out.sort();
}

describe('non-root RUN in container mode (runc, PSS Restricted)', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let template: string;
  let opts: RemoteOptions;
  let client: RegistryClient;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-rootless-run-'));
    template = join(work, 'template');
    await Promise.all([assembleKanikoDir(template), pushBusyboxBase(`${registry.host}/rootless-run/busybox:1`)]);
    opts = {
      keychain: anonymousKeychain, insecureRegistries: new Set([registry.host]), skipTlsVerifyRegistries: new Set(),
      certificates: new Map(), clientCerts: new Map(), retries: 0, userAgent: 'test', log: pino({ level: 'silent' }),
    };
    client = new RegistryClient(opts);
  });
  after(async () => {
    await client?.close();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  /** A bundle whose rootfs is the executor image with `files` as /workspace; owned by uid 1000 when restricted. */
  async function bundleFor(name: string, files: Record<string, string | Buffer>, restricted: boolean): Promise<string> {
    const bundle = join(work, name);
    const rootfs = join(bundle, 'rootfs');
    await cp(template, rootfs, { recursive: true });
    for (const d of ['workspace', 'proc', 'dev', 'sys', 'tmp']) await mkdir(join(rootfs, d), { recursive: true });
    await chmod(join(rootfs, 'tmp'), 0o1777);
    for (const [f, body] of Object.entries(files)) await writeFile(join(rootfs, 'workspace', f), body);
    if (restricted) await exec('chown', ['-R', '1000:1000', rootfs]);
    return bundle;
  }

  async function layersOf(ref: string, skipLayers: number): Promise<string[][]> {
    const img = await remoteImage(parseReference(ref), { ...opts, client });
    const out: string[][] = [];
    for (const layer of (await img.layers()).slice(skipLayers)) out.push(await entriesOf(await layer.uncompressed()));
    return out;
  }

  async function buildBoth(name: string, files: Record<string, string | Buffer>): Promise<{ root: string[][]; user: string[][]; userLog: string; ms: { root: number; user: number } }> {
    const args = (tag: string): string[] => ['--context=dir:///workspace', `--destination=${registry.host}/rootless-run/${name}:${tag}`,
      '--insecure', '--insecure-pull', '--log-format=text'];
    const asRoot = await runcExecutor(await bundleFor(`${name}-root`, files, false), args('root'), { restricted: false });
    assert.equal(asRoot.code, 0, asRoot.stderr + asRoot.stdout);
    assert.match(asRoot.stderr + asRoot.stdout, /Root mode/);
    const asUser = await runcExecutor(await bundleFor(`${name}-user`, files, true), args('user'), { restricted: true });
    assert.equal(asUser.code, 0, asUser.stderr + asUser.stdout);
    assert.match(asUser.stderr + asUser.stdout, /Non-root mode \(running as uid 1000 without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SETGID, CAP_SETUID\)/);
    return { root: await layersOf(`${registry.host}/rootless-run/${name}:root`, 1), user: await layersOf(`${registry.host}/rootless-run/${name}:user`, 1),
      userLog: asUser.stderr + asUser.stdout, ms: { root: asRoot.ms, user: asUser.ms } };
  }

  test('busybox (static): chown, chmod 4755, chown -h, mknod, stat inside RUN, USER: every entry as the root build', { timeout: 600_000 }, async (t) => {
    const c = busyboxCase(`${registry.host}/rootless-run/busybox:1`);
    const { root, user, ms } = await buildBoth('busybox', { Dockerfile: c.dockerfile });
    t.diagnostic(`root ${ms.root} ms, non-root ${ms.user} ms`);
    assert.deepEqual(user, root);
    assert.equal(missingEntry(user, c.entries), undefined);
    // What the fake user was allowed: the same as the real user of the root build.
    for (const t of ['root', 'user']) {
      assert.equal((await layerFiles(`${registry.host}/rootless-run/busybox:${t}`, { ...opts, client })).get('home/app/perm'), busyboxPermissions, t);
    }
  });

  test('Debian: useradd, install -o -m 4755, chown -h, USER, dpkg -i with a postinst chown: every entry as the root build', { timeout: 900_000 }, async (t) => {
    let base: string;
    try {
      base = await debianBase(registry.host, { repository: 'rootless-run/debian' });
    } catch (err) {
      if (err instanceof DebianUnavailable) { t.skip(err.message); return; }
      throw err;
    }
    const c = debianCase(base);
    const { root, user, ms } = await buildBoth('debian', { Dockerfile: c.dockerfile, 'tiny.deb': await tinyDeb(join(work, 'deb')) });
    t.diagnostic(`root ${ms.root} ms, non-root ${ms.user} ms`);
    assert.deepEqual(user, root);
    assert.equal(missingEntry(user, c.entries), undefined);
  });

  test('Debian: apt-get update && apt-get install (the _apt sandbox drops and checks privileges): every entry as the root build', { timeout: 900_000 }, async (t) => {
    const mirror = await debianMirror();
    if (!await mirrorReachable(mirror)) { t.skip(`${mirror} unreachable`); return; }
    const base = await debianBase(registry.host, { repository: 'rootless-run/debian' });
    const c = aptCase(base, mirror);
    const { root, user, ms } = await buildBoth('apt', { Dockerfile: c.dockerfile });
    t.diagnostic(`root ${ms.root} ms, non-root ${ms.user} ms`);
    assert.deepEqual(user, root);
    assert.equal(missingEntry(user, c.entries), undefined);
  });

  test('the Restricted image variant (scripts/restricted-image.ts) unpacked by umoci runs the non-root build as it is', { timeout: 600_000 }, async () => {
    // The executor image: the assembled runtime directory as one layer (what Dockerfile.executor's final stage holds).
    const tarPath = join(work, 'executor.tar');
    await exec('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', template, '-cf', tarPath, '.']);
    const layerDir = join(work, 'layers');
    await mkdir(layerDir, { recursive: true });
    const layer = await layerFromTarFile(tarPath, { workDir: layerDir });
    const executorImage = appendLayers(emptyImage(hostPlatform()), { layer });
    const variant = await restrictedVariant(executorImage, { uid: 1000, gid: 1000, workDir: layerDir });
    const ref = `${registry.host}/rootless-run/executor:restricted`;
    await writeImage(parseReference(ref), variant, { ...opts, client });
    assert.equal((await (await remoteImage(parseReference(ref), { ...opts, client })).configFile()).config.User, '1000:1000');
    const entries = (await layersOf(ref, 0)).flat();
    assert.ok(entries.includes('./ directory 1000:1000 755'), entries.slice(0, 5).join('\n'));
    assert.deepEqual(entries.filter((e) => !/ 1000:1000 /.test(e)), [], 'every entry belongs to the build user');

    const bundle = join(work, 'variant-bundle');
    const layout = join(work, 'variant-layout');
    await exec('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:v`], { maxBuffer: 16 << 20 });
    await exec('umoci', ['unpack', '--image', `${layout}:v`, bundle], { maxBuffer: 16 << 20 });
    const rootfs = join(bundle, 'rootfs');
    assert.equal((await lstat(rootfs)).uid, 1000, "the image's root entry gives '/' to the build user");
    await mkdir(join(rootfs, 'workspace'), { recursive: true }); // the image's WORKDIR (Dockerfile.executor)
    await writeFile(join(rootfs, 'workspace', 'Dockerfile'), `FROM ${registry.host}/rootless-run/busybox:1\nRUN chown 7:7 /etc/passwd && [ "$(stat -c %u /etc/passwd)" = 7 ]\n`);
    await exec('chown', ['-R', '1000:1000', join(rootfs, 'workspace')]);
    const run = await runcExecutor(bundle, ['--context=dir:///workspace', `--destination=${registry.host}/rootless-run/variant:out`, '--insecure', '--insecure-pull', '--log-format=text'], { restricted: true });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.ok((await layersOf(`${registry.host}/rootless-run/variant:out`, 1)).flat().includes('etc/passwd file 7:7 644'));
  });

  test('RUN --mount (cache, secret, bind, tmpfs) emulated by the supervisor in /, and a RUN stage in its own directory: nothing of them in a layer', { timeout: 300_000 }, async () => {
    const base = `${registry.host}/rootless-run/busybox:1`;
    const files = {
      Dockerfile: [
        `FROM ${base} AS side`,
        'RUN mkdir /out && echo side > /out/s && [ "$(pwd)" = / ] && [ "$(readlink /proc/self/cwd)" = / ]',
        `FROM ${base}`,
        'COPY --from=side /out/s /from-side',
        'RUN --mount=type=cache,target=/var/cache/app echo one >> /var/cache/app/log',
        'RUN --mount=type=cache,target=/var/cache/app cp /var/cache/app/log /cache-seen',
        'RUN --mount=type=secret,id=tok cp /run/secrets/tok /secret-seen && { echo x > /run/secrets/tok || echo ro > /secret-ro; }',
        'RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /from-bind',
        'RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && cp /scratch/t /from-tmpfs',
        '',
      ].join('\n'),
      'data.txt': 'from the context\n',
      tok: 's3cret\n',
    };
    const ref = `${registry.host}/rootless-run/mounts:user`;
    const run = await runcExecutor(await bundleFor('mounts-user', files, true), ['--context=dir:///workspace', `--destination=${ref}`,
      '--secret=id=tok,src=/workspace/tok', '--insecure', '--insecure-pull', '--log-format=text'], { restricted: true });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout + run.stderr, /Stages other than the target RUN in their own directory, under the fake-root supervisor's emulated chroot \(non-root mode\)/);
    const all = (await layersOf(ref, 1)).flat();
    for (const name of ['from-side', 'cache-seen', 'secret-seen', 'secret-ro', 'from-bind', 'from-tmpfs']) {
      assert.ok(all.some((l) => l.startsWith(`${name} file 0:0 `)), `${name} in\n${all.join('\n')}`);
    }
    for (const gone of ['var/cache/app/log', 'run/secrets/tok', 'mnt/data.txt', 'scratch/t', 'out/s']) {
      assert.ok(!all.some((l) => l.startsWith(`${gone} `)), `${gone} is in a layer:\n${all.join('\n')}`);
    }
  });

  test('a RUN calling mount fails with one line naming the call and the mode, under the container profile too', { timeout: 300_000 }, async () => {
    const base = `${registry.host}/rootless-run/busybox:1`;
    const files = { Dockerfile: `FROM ${base}\nRUN mkdir /m && mount -t tmpfs none /m\n` };
    const run = await runcExecutor(await bundleFor('mount-user', files, true), ['--context=dir:///workspace', '--no-push', '--insecure-pull', '--log-format=text'], { restricted: true });
    assert.notEqual(run.code, 0);
    // The container's profile refuses mount (ERRNO); the supervisor's SECCOMP_RET_TRAP outranks it, so it sees the call.
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, run.stderr);
    assert.match(errors[0] ?? '', /^error: \/workspace\/Dockerfile:2: the command called mount\(2\), which a non-root build cannot allow \(no privileges, no namespaces\); the command failed$/);
    assert.match(run.stdout + run.stderr, /mount: permission denied/);
  });
});
