// Non-root builds (issue 19): the executor started the way a Pod under Pod Security Standards "Restricted" runs it
// (pss-restricted.py: uid 1000, no capabilities, no_new_privs, namespace calls refused) builds FROM a base with
// root-owned, setuid/setgid and device entries, COPY --chown, COPY --from and ADD of an archive, and pushes an image
// whose every layer entry (owner, mode, type) is the one the same build gives as root. RUN: test/e2e/rootless-rootdir.test.ts.
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
import { remoteImage, writeImage, type RemoteOptions } from '../../src/registry/remote.ts';
import { projectRoot, runExecutor } from '../support/executor-process.ts';
import { fixtureImage, layerOfTar } from '../support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

const pss = join(projectRoot, 'test', 'support', 'pss-restricted.py');
const hasSeccomp = spawnSync('/usr/bin/python3', ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root (pss-restricted.py drops to uid 1000)' : !hasSeccomp && 'needs Debian python3-seccomp';

type Spec = { name: string; type?: tar.Header['type']; mode?: number; uid?: number; gid?: number; linkname?: string; body?: string; devmajor?: number; devminor?: number };

async function tarOf(entries: readonly Spec[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = type === 'file' ? Buffer.from(e.body ?? '') : Buffer.alloc(0);
    pack.entry({ name: e.name, type, size: body.length, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0,
      mtime: new Date(1_600_000_000_000), ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}) }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** One line per tar entry: what must agree between the root and the non-root build. */
async function entriesOf(stream: NodeJS.ReadableStream): Promise<string[]> {
  const out: string[] = [];
  const extract = tar.extract();
  stream.pipe(extract);
  for await (const entry of extract) {
    const h = entry.header;
    out.push(`${h.name} ${h.type} ${h.uid}:${h.gid} ${(h.mode ?? 0).toString(8)} size=${h.size}${h.linkname ? ` -> ${h.linkname}` : ''}`
      + (h.type === 'character-device' || h.type === 'block-device' ? ` dev=${h.devmajor},${h.devminor}` : ''));
    for await (const _ of entry) { /* drain */ }
  }
  return out;
}

describe('non-root builds (PSS Restricted)', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let opts: RemoteOptions;
  let client: RegistryClient;
  let base: string;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-rootless-'));
    await chmod(work, 0o755);
    opts = {
      keychain: anonymousKeychain, insecureRegistries: new Set([registry.host]), skipTlsVerifyRegistries: new Set(),
      certificates: new Map(), clientCerts: new Map(), retries: 0, userAgent: 'test', log: pino({ level: 'silent' }),
    };
    client = new RegistryClient(opts);
    // A base with what a non-root process cannot hold on disk: other owners, setuid/setgid, a device, a hardlink.
    const lower = layerOfTar(await tarOf([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/shadow', mode: 0o640, gid: 42, body: 'root:*:1::::::\n' },
      { name: 'etc/old', body: 'removed by the next layer\n' },
      { name: 'usr/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/bin/su', mode: 0o4755, body: 'su\n' },
      { name: 'usr/bin/sudo', type: 'link', linkname: 'usr/bin/su' },
      { name: 'usr/bin/wall', mode: 0o2755, gid: 5, body: 'wall\n' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin', uid: 0, gid: 0 },
      { name: 'dev/', type: 'directory' },
      { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'opt/', type: 'directory' },
      { name: 'opt/app/', type: 'directory', mode: 0o750, uid: 1500, gid: 1500 },
      { name: 'srv/', type: 'directory', mode: 0o2775, gid: 50 },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
      { name: 'readonly/', type: 'directory', mode: 0o555 },
      { name: 'readonly/file', mode: 0o400, body: 'r\n' },
    ]));
    const upper = layerOfTar(await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/.wh.old', body: '' }]));
    const img = await fixtureImage([lower, upper]);
    base = `${registry.host}/rootless/base:1`;
    await writeImage(parseReference(base), img, { ...opts, client });
  });
  after(async () => {
    await client?.close();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  /** A context readable by uid 1000 and an empty --root-dir it owns. */
  async function prepare(name: string, dockerfile: string): Promise<{ ctx: string; root: string; home: string }> {
    const ctx = join(work, name, 'ctx');
    await mkdir(join(ctx, 'dir', 'sub'), { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    await writeFile(join(ctx, 'app.txt'), 'app\n');
    await writeFile(join(ctx, 'dir', 'sub', 'a.txt'), 'a\n');
    await writeFile(join(ctx, 'tool'), '#!/bin/sh\n');
    await chmod(join(ctx, 'tool'), 0o4755);
    await writeFile(join(ctx, 'files.tar'), await tarOf([
      { name: 'pkg/', type: 'directory', uid: 7, gid: 8 },
      { name: 'pkg/bin/', type: 'directory', mode: 0o711 },
      { name: 'pkg/bin/helper', mode: 0o6750, uid: 0, gid: 12, body: 'helper\n' },
      { name: 'pkg/bin/helper2', type: 'link', linkname: 'pkg/bin/helper' },
      { name: 'pkg/lib', type: 'symlink', linkname: '../usr/lib', uid: 7, gid: 8 },
      { name: 'pkg/tty', type: 'character-device', mode: 0o620, gid: 5, devmajor: 4, devminor: 1 },
    ]));
    for (const [dir, mode] of [[join(work, name), 0o755], [ctx, 0o755], [join(ctx, 'dir'), 0o755], [join(ctx, 'dir', 'sub'), 0o755]] as const) await chmod(dir, mode);
    const root = join(work, name, 'root');
    const home = join(work, name, 'home');
    for (const d of [root, home]) { await mkdir(d); await chown(d, 1000, 1000); }
    return { ctx, root, home };
  }

  const dockerfile = (b: string): string => [
    `FROM ${b} AS unpacked`,
    `FROM ${b}`,
    'COPY --chown=1500:1500 app.txt /opt/app/app.txt',
    'COPY --chown=1500:1500 dir/ /opt/app/dir/',
    'COPY tool /srv/tool',
    'COPY app.txt /readonly/app.txt',
    `COPY --from=${b} /usr/bin/su /usr/bin/wall /copied/`,
    'ADD files.tar /opt/',
    'WORKDIR /opt/app/work',
    // The base as extracted by a stage (owners from its table; the whiteout applied; devices are not COPY sources).
    'COPY --from=unpacked / /all/',
    '',
  ].join('\n');

  async function layersOf(ref: string): Promise<string[][]> {
    const img = await remoteImage(parseReference(ref), { ...opts, client });
    const layers = await img.layers();
    const out: string[][] = [];
    for (const layer of layers.slice(2)) out.push(await entriesOf(await layer.uncompressed()));
    return out;
  }

  test('FROM + COPY --chown + COPY --from + ADD as uid 1000 without capabilities: every entry as the root build', async () => {
    const flagsFor = (p: { ctx: string; root: string }, tag: string): string[] => [`--context=dir://${p.ctx}`, `--root-dir=${p.root}`,
      `--destination=${registry.host}/rootless/out:${tag}`, '--insecure', '--insecure-pull', '--reproducible', '--log-format=text'];
    const asRoot = await prepare('as-root', dockerfile(base));
    const rootRun = await runExecutor(flagsFor(asRoot, 'root'), { env: { HOME: asRoot.home } });
    assert.equal(rootRun.code, 0, rootRun.stderr + rootRun.stdout);
    assert.match(rootRun.stdout + rootRun.stderr, /Root mode \(running as root with the capabilities a root build needs\)/);

    const asUser = await prepare('as-user', dockerfile(base));
    const userRun = await runExecutor(['1000:1000', join(projectRoot, 'bin', 'executor'), ...flagsFor(asUser, 'nonroot')],
      { bin: pss, env: { HOME: asUser.home } });
    assert.equal(userRun.code, 0, userRun.stderr + userRun.stdout);
    assert.match(userRun.stdout + userRun.stderr, /Non-root mode \(running as uid 1000 without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT, CAP_SYS_ADMIN\)/);

    const want = await layersOf(`${registry.host}/rootless/out:root`);
    const got = await layersOf(`${registry.host}/rootless/out:nonroot`);
    assert.deepEqual(got, want);
    const all = want.flat().join('\n');
    // The cases that matter are really in the layers (not trivially equal because empty).
    for (const line of ['opt/app/ directory 1500:1500 750', 'opt/app/app.txt file 1500:1500 644', 'srv/ directory 0:50 2775',
      'srv/tool file 0:0 4755', 'readonly/ directory 0:0 555', 'copied/su file 0:0 4755', 'copied/wall file 0:5 2755',
      'opt/pkg/bin/helper file 0:12 6750', 'opt/pkg/bin/helper2 link', 'opt/pkg/tty character-device 0:5 620 size=0 dev=4,1',
      'opt/pkg/lib symlink 7:8', 'opt/app/work/ directory 0:0 755', 'all/etc/shadow file 0:42 640', 'all/tmp/ directory 0:0 1777',
      'all/usr/bin/su file 0:0 4755', 'all/usr/bin/wall file 0:5 2755', 'all/opt/app/ directory 1500:1500 750', 'all/readonly/file file 0:0 400',
      'all/bin symlink 0:0 777 size=0 -> usr/bin']) {
      assert.ok(all.includes(line), `${line} in\n${all}`);
    }
    assert.ok(!all.includes('all/etc/old'), 'the whiteout of the upper base layer holds');
    // Same bytes: with --reproducible the two builds give the same image.
    const digest = async (tag: string): Promise<string> => (await remoteImage(parseReference(`${registry.host}/rootless/out:${tag}`), { ...opts, client })).digest();
    assert.equal(await digest('nonroot'), await digest('root'));
  });
});
