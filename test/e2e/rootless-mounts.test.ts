// RUN --mount in non-root mode with --root-dir (issue 19): the executor as uid 1000 under pss-restricted.py (no
// capabilities, namespace calls refused), so no mount can be made; the fake-root supervisor emulates each mount by
// path translation (native/fakeroot-supervisor-chroot.c). cache (kept between RUNs), secret (read-only), bind of a
// context file (read-only) and of the context (rw, changes discarded), tmpfs, and ssh (an agent socket: AF_UNIX
// paths translated) — and nothing of any mount stays in a layer. --network=none is refused with one line.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { anonymousKeychain } from '../../src/auth/index.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import type { RemoteOptions } from '../../src/registry/remote.ts';
import { executorBin, projectRoot, runExecutor } from '../support/executor-process.ts';
import { layerFiles } from '../support/image-files.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { pushSshBase } from '../support/ssh-base.ts';

const pss = join(projectRoot, 'test', 'support', 'pss-restricted.py');
const hasSeccomp = spawnSync('/usr/bin/python3', ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root (pss-restricted.py drops to uid 1000)' : !hasSeccomp && 'needs Debian python3-seccomp';

describe('non-root RUN --mount with --root-dir (pss-restricted.py)', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let opts: RemoteOptions;
  let client: RegistryClient;
  let keyPrint: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-rootless-mounts-'));
    await chmod(work, 0o755);
    await pushSshBase(registry.host);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e-rootless', '-f', join(work, 'key')]);
    await chown(join(work, 'key'), 1000, 1000);
    keyPrint = execFileSync('ssh-keygen', ['-l', '-f', join(work, 'key.pub')], { encoding: 'utf8' }).trim();
    await writeFile(join(work, 'secret'), 's3cret');
    await chown(join(work, 'secret'), 1000, 1000);
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

  /** The build as uid 1000: a context it can read, a --root-dir, HOME and a cache directory it owns. */
  async function buildAsUser(dockerfile: string, extra: readonly string[] = []): Promise<{ code: number; out: string; ref: string }> {
    const dir = join(work, `b${n++}`);
    const ctx = join(dir, 'ctx');
    await mkdir(ctx, { recursive: true });
    await chmod(dir, 0o755);
    await chmod(ctx, 0o755);
    await writeFile(join(ctx, 'Dockerfile'), dockerfile.replaceAll('BASE', `${registry.host}/ssh-base:latest`));
    await writeFile(join(ctx, 'data.txt'), 'from the context\n');
    await copyFile(join(work, 'key.pub'), join(ctx, 'key.pub'));
    for (const d of ['root', 'home', 'kaniko']) { await mkdir(join(dir, d)); await chown(join(dir, d), 1000, 1000); }
    const ref = `${registry.host}/rootless-mounts/b:${n}`;
    const run = await runExecutor(['1000:1000', executorBin, `--context=dir://${ctx}`, `--root-dir=${join(dir, 'root')}`, `--kaniko-dir=${join(dir, 'kaniko')}`,
      `--destination=${ref}`, '--insecure', '--insecure-pull', '--log-format=text', ...extra], { bin: pss, env: { HOME: join(dir, 'home') }, timeoutMs: 600_000 });
    return { code: run.code, out: run.stdout + run.stderr, ref };
  }

  test('cache, secret, bind (ro and rw), tmpfs and ssh are emulated; no mount leaves anything in a layer', { timeout: 600_000 }, async () => {
    const r = await buildAsUser([
      'FROM BASE',
      'RUN --mount=type=cache,target=/root/.cache/app echo one >> /root/.cache/app/log',
      'RUN --mount=type=cache,target=/root/.cache/app cp /root/.cache/app/log /cache-seen && [ "$(id -u)" = 0 ]',
      'RUN --mount=type=secret,id=tok [ "$(cat /run/secrets/tok)" = s3cret ] && echo ok > /secret-ok && { echo x > /run/secrets/tok || echo ro > /secret-ro; }',
      'RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /from-bind && { echo x > /mnt/data.txt || echo ro > /bind-ro; }',
      'RUN --mount=type=bind,target=/src,rw echo w > /src/written && cat /src/data.txt > /from-ctx && cd /src && pwd > /ctx-pwd',
      'RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && cp /scratch/t /from-tmpfs',
      'RUN --mount=type=ssh ssh-add -l > /ssh-keys',
      'RUN [ ! -e /src/written ] && [ ! -e /run/secrets/tok ] && [ ! -e /scratch/t ] && echo clean > /after',
      '',
    ].join('\n'), [`--secret=id=tok,src=${join(work, 'secret')}`, `--ssh=default=${join(work, 'key')}`]);
    assert.equal(r.code, 0, r.out);
    const files = await layerFiles(r.ref, { ...opts, client });
    assert.equal(files.get('cache-seen'), 'one\n');
    assert.equal(files.get('secret-ok'), 'ok\n');
    assert.equal(files.get('secret-ro'), 'ro\n');
    assert.equal(files.get('from-bind'), 'from the context\n');
    assert.equal(files.get('bind-ro'), 'ro\n');
    assert.equal(files.get('from-ctx'), 'from the context\n');
    assert.equal(files.get('ctx-pwd'), '/src\n');
    assert.equal(files.get('from-tmpfs'), 't\n');
    assert.equal(files.get('ssh-keys')?.trim(), keyPrint);
    assert.equal(files.get('after'), 'clean\n');
    const names = [...files.keys()];
    for (const gone of ['root/.cache/app/log', 'run/secrets/tok', 'mnt/data.txt', 'src/written', 'scratch/t']) {
      assert.ok(!names.includes(gone), `${gone} is in a layer: ${names.join(' ')}`);
    }
  });

  test('RUN --network=none fails before it runs with one line naming the flag and the mode', async () => {
    const r = await buildAsUser('FROM BASE\nRUN --network=none true\n');
    assert.notEqual(r.code, 0);
    const errors = r.out.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, r.out);
    assert.match(errors[0] ?? '', /Dockerfile:2: .*RUN --network=none needs a network namespace, which a non-root build cannot create \(non-root mode\)/);
  });
});
