// Non-root RUN with --root-dir (issue 19 item 2, host case): the executor started the way a Pod under Pod Security
// Standards "Restricted" runs it (test/support/pss-restricted.py: uid 1000, no capabilities, no_new_privs, namespace
// calls and chroot refused) builds into a --root-dir it owns; each RUN runs under native/fakeroot-supervisor.c with
// --chroot (run-in-root's chroot emulated by path translation). Every layer entry (name, type, owner, mode, link,
// device) must be the one the same build gives as root on the host with --root-dir (root mode, RUN isolated).
// The Dockerfiles are those of test/e2e/rootless-run.test.ts (the container-mode case).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import * as tar from 'tar-stream';
import { anonymousKeychain } from '../../src/auth/index.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { remoteImage, type RemoteOptions } from '../../src/registry/remote.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { debianBase, debianMirror, DebianUnavailable, mirrorReachable } from '../support/debian-base.ts';
import { executorBin, projectRoot, runExecutor, type ExecutorRun } from '../support/executor-process.ts';
import { layerFiles } from '../support/image-files.ts';
import { aptCase, busyboxCase, busyboxPermissions, debianCase, missingEntry } from '../support/rootless-cases.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { tinyDeb } from '../support/tiny-deb.ts';

const pss = join(projectRoot, 'test', 'support', 'pss-restricted.py');
const hasSeccomp = spawnSync('/usr/bin/python3', ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root (pss-restricted.py drops to uid 1000)' : !hasSeccomp && 'needs Debian python3-seccomp';
const nonRootLog = /Non-root mode \(running as uid 1000 without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT, CAP_SYS_ADMIN\): owners and modes are kept in an ownership table; RUN runs as fake root under the ptrace supervisor \(chroot emulated\)/;

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

describe('non-root RUN with --root-dir (pss-restricted.py, PSS Restricted)', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let opts: RemoteOptions;
  let client: RegistryClient;
  let busybox: string;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-rootless-rootdir-'));
    await chmod(work, 0o755);
    busybox = `${registry.host}/rootless-rootdir/busybox:1`;
    await pushBusyboxBase(busybox);
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

  /** A context readable by uid 1000, an empty --root-dir and a HOME it owns. */
  async function prepare(name: string, files: Record<string, string | Buffer>): Promise<{ ctx: string; root: string; home: string }> {
    const dir = join(work, name);
    const ctx = join(dir, 'ctx');
    await mkdir(ctx, { recursive: true });
    for (const d of [dir, ctx]) await chmod(d, 0o755);
    for (const [f, body] of Object.entries(files)) await writeFile(join(ctx, f), body, { mode: 0o644 });
    const root = join(dir, 'root');
    const home = join(dir, 'home');
    for (const d of [root, home]) { await mkdir(d); await chown(d, 1000, 1000); }
    return { ctx, root, home };
  }

  const flagsFor = (p: { ctx: string; root: string }, dest: string[]): string[] => [`--context=dir://${p.ctx}`, `--root-dir=${p.root}`,
    ...dest, '--insecure', '--insecure-pull', '--log-format=text'];

  /** The build as uid 1000 under pss-restricted.py. */
  async function asUser(name: string, files: Record<string, string | Buffer>, dest: string[]): Promise<ExecutorRun & { ctx: string; ms: number }> {
    const p = await prepare(name, files);
    const started = Date.now();
    const run = await runExecutor(['1000:1000', executorBin, ...flagsFor(p, dest)], { bin: pss, env: { HOME: p.home }, timeoutMs: 600_000 });
    return { ...run, ctx: p.ctx, ms: Date.now() - started };
  }

  async function layersOf(ref: string, skipLayers: number): Promise<string[][]> {
    const img = await remoteImage(parseReference(ref), { ...opts, client });
    const out: string[][] = [];
    for (const layer of (await img.layers()).slice(skipLayers)) out.push(await entriesOf(await layer.uncompressed()));
    return out;
  }

  /** The same build as root (root mode, --root-dir) and as uid 1000 (non-root mode): the layers above the base. */
  async function buildBoth(name: string, files: Record<string, string | Buffer>): Promise<{ root: string[][]; user: string[][]; ms: { root: number; user: number } }> {
    const dest = (tag: string): string[] => [`--destination=${registry.host}/rootless-rootdir/${name}:${tag}`];
    const p = await prepare(`${name}-root`, files);
    const started = Date.now();
    const rootRun = await runExecutor(flagsFor(p, dest('root')), { env: { HOME: p.home }, timeoutMs: 600_000 });
    const rootMs = Date.now() - started;
    assert.equal(rootRun.code, 0, rootRun.stderr + rootRun.stdout);
    assert.match(rootRun.stdout + rootRun.stderr, /Root mode \(running as root with the capabilities a root build needs\)/);
    const userRun = await asUser(`${name}-user`, files, dest('user'));
    assert.equal(userRun.code, 0, userRun.stderr + userRun.stdout);
    assert.match(userRun.stdout + userRun.stderr, nonRootLog);
    return { root: await layersOf(`${registry.host}/rootless-rootdir/${name}:root`, 1), user: await layersOf(`${registry.host}/rootless-rootdir/${name}:user`, 1),
      ms: { root: rootMs, user: userRun.ms } };
  }

  test('busybox (static): chown, chmod 4750, chown -h, mknod, stat inside RUN, USER, a stage read by COPY --from: every entry as the root build', { timeout: 600_000 }, async (t) => {
    const c = busyboxCase(busybox);
    const { root, user, ms } = await buildBoth('busybox', { Dockerfile: c.dockerfile });
    t.diagnostic(`root ${ms.root} ms, non-root ${ms.user} ms`);
    assert.deepEqual(user, root);
    assert.equal(missingEntry(user, c.entries), undefined);
    // What the fake user was allowed: the same as the real user of the root build.
    for (const t of ['root', 'user']) {
      assert.equal((await layerFiles(`${registry.host}/rootless-rootdir/busybox:${t}`, { ...opts, client })).get('home/app/perm'), busyboxPermissions, t);
    }
  });

  test('the emulated chroot: absolute symlinks, .. above /, WORKDIR and getcwd, #! interpreters, /dev and /proc; no host path visible', { timeout: 600_000 }, async () => {
    const dockerfile = [
      `FROM ${busybox}`,
      'WORKDIR /w/sub',
      'RUN echo x > /f && ln -s /f /w/abs && ln -s ../../f /w/sub/rel && [ "$(cat /w/abs)" = x ] && [ "$(cat rel)" = x ] && [ "$(cat /../../f)" = x ]'
        + ' && [ "$(readlink /w/abs)" = /f ] && [ "$(readlink -f /w/abs)" = /f ] && [ "$(pwd)" = /w/sub ] && [ "$(readlink -f .)" = /w/sub ]'
        + ' && [ "$(cd .. && readlink -f .)" = /w ] && [ "$(cd /../.. && readlink -f .)" = / ] && echo r > here && [ -f /w/sub/here ]'
        + ' && printf \'#!/bin/sh\\necho "$0" > /script-ran\\n\' > /t.sh && chmod 755 /t.sh && /t.sh && [ "$(cat /script-ran)" = /t.sh ]'
        + ' && echo gone > /dev/null && [ -c /dev/null ] && [ "$(cat /proc/self/status | grep -c ^Uid)" = 1 ]'
        + ` && [ ! -e ${work} ] && [ ! -e /work/wt18 ] && ! ls /tmp | grep -q e2e-rootless-rootdir && mv /f /g && [ ! -e /f ] && [ -f /g ]`,
      '',
    ].join('\n');
    const { root, user } = await buildBoth('paths', { Dockerfile: dockerfile });
    assert.deepEqual(user, root);
    const all = user.flat().join('\n');
    for (const line of ['w/abs symlink 0:0 777 -> /f', 'w/sub/rel symlink 0:0 777 -> ../../f', 'w/sub/here file 0:0 644', 't.sh file 0:0 755', 'script-ran file 0:0 644', 'g file 0:0 644']) {
      assert.ok(all.includes(line), `${line} in\n${all}`);
    }
  });

  test('a heredoc with a #! line and an ONBUILD RUN of the base: every entry as the root build', { timeout: 600_000 }, async () => {
    const onbuild = `${registry.host}/rootless-rootdir/onbuild:1`;
    const p = await prepare('onbuild-base', { Dockerfile: `FROM ${busybox}\nONBUILD RUN echo onbuild > /onbuild && chown 5:6 /onbuild\n` });
    const made = await runExecutor(flagsFor(p, [`--destination=${onbuild}`]), { env: { HOME: p.home } });
    assert.equal(made.code, 0, made.stderr);
    const dockerfile = [
      `FROM ${onbuild}`,
      'RUN <<EOF',
      '#!/bin/sh',
      'echo "$0 $(id -u)" > /heredoc-ran && chmod 4700 /heredoc-ran',
      'EOF',
      'RUN [ "$(stat -c %u:%g /onbuild)" = 5:6 ] && cut -d" " -f2 /heredoc-ran > /uid',
      '',
    ].join('\n');
    const { root, user } = await buildBoth('heredoc', { Dockerfile: dockerfile });
    assert.deepEqual(user, root);
    const all = user.flat().join('\n');
    for (const line of ['onbuild file 5:6 644', 'heredoc-ran file 0:0 4700', 'uid file 0:0 644']) assert.ok(all.includes(line), `${line} in\n${all}`);
  });

  test('RUN --network=none is refused in non-root mode with one line naming the flag; nothing is pushed', { timeout: 300_000 }, async () => {
    const ref = `${registry.host}/rootless-rootdir/network-none:user`;
    const run = await asUser('network-none', { Dockerfile: `FROM ${busybox}\nRUN --network=none touch /x\n` }, [`--destination=${ref}`]);
    assert.notEqual(run.code, 0, run.stderr + run.stdout);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, run.stderr);
    assert.match(errors[0] ?? '', /Dockerfile:2: .*RUN --network=none needs a network namespace, which a non-root build cannot create \(non-root mode\)/);
    await assert.rejects(remoteImage(parseReference(ref), { ...opts, client }), 'nothing pushed');
  });

  test('Debian: useradd, install -o -m 4755, chown -h, USER, dpkg -i with a postinst chown: every entry as the root build', { timeout: 900_000 }, async (t) => {
    let base: string;
    try {
      base = await debianBase(registry.host, { repository: 'rootless-rootdir/debian' });
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
    const base = await debianBase(registry.host, { repository: 'rootless-rootdir/debian' });
    const c = aptCase(base, mirror);
    const { root, user, ms } = await buildBoth('apt', { Dockerfile: c.dockerfile });
    t.diagnostic(`root ${ms.root} ms, non-root ${ms.user} ms`);
    assert.deepEqual(user, root);
    assert.equal(missingEntry(user, c.entries), undefined);
  });

  test('a RUN calling mount fails with one line naming the call and non-root mode; nothing is pushed', { timeout: 300_000 }, async () => {
    const ref = `${registry.host}/rootless-rootdir/mount:user`;
    const run = await asUser('mount', { Dockerfile: `FROM ${busybox}\nRUN mkdir /m && mount -t tmpfs none /m\n` }, [`--destination=${ref}`]);
    assert.notEqual(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout + run.stderr, nonRootLog);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, run.stderr);
    const file = join(run.ctx, 'Dockerfile').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(errors[0] ?? '', new RegExp(`^error: ${file}:2: the command called mount\\(2\\), which a non-root build cannot allow \\(no privileges, no namespaces\\); the command failed$`));
    assert.match(run.stdout + run.stderr, /mount: permission denied/);
    await assert.rejects(remoteImage(parseReference(ref), { ...opts, client }), 'nothing pushed');
  });
});
