// Hostile input: a context whose Dockerfile or .dockerignore is a symlink to a host file, expansion that
// would grow without bound, a Dockerfile of 100,000 instructions, control characters in the input.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

function oneErrorLine(run: { code: number; stderr: string }): string {
  assert.notEqual(run.code, 0, run.stderr);
  const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  return errors[0] ?? '';
}

describe('hardening', () => {
  let dir: string;
  let n = 0;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'e2e-hard-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });
  const root = (): string => `--root-dir=${join(dir, `root-${n++}`)}`;

  /** A tar:// context made from `files` (name → content, or {link} for a symlink). */
  async function tarContext(name: string, files: Record<string, string | { link: string }>): Promise<string> {
    const src = join(dir, name);
    await mkdir(src, { recursive: true });
    for (const [file, body] of Object.entries(files)) {
      await mkdir(join(src, file, '..'), { recursive: true });
      if (typeof body === 'string') await writeFile(join(src, file), body);
      else await symlink(body.link, join(src, file));
    }
    const tarPath = join(dir, `${name}.tar`);
    execFileSync('tar', ['-cf', tarPath, '-C', src, '.']);
    return `--context=tar://${tarPath}`;
  }

  test('a context Dockerfile that is a symlink to a host file is resolved inside the context', async () => {
    const ctx = await tarContext('link-out', { Dockerfile: { link: '/etc/passwd' } });
    const line = oneErrorLine(await runExecutor([ctx, root(), '--no-push']));
    assert.match(line, /Dockerfile not found: .*\/etc\/passwd/);
    assert.doesNotMatch(line, /root:/, 'nothing of the host file is shown');
  });

  test('a Dockerfile symlink that climbs with .. stays in the context too', async () => {
    const ctx = await tarContext('link-up', { Dockerfile: { link: '../../../../../../../etc/passwd' } });
    assert.match(oneErrorLine(await runExecutor([ctx, root(), '--no-push'])), /Dockerfile not found/);
  });

  test('a symlink inside the context to another file of the context is followed; .dockerignore to a host file is not', async () => {
    // Read from the host, this ignore file would exclude `kept` and the COPY would fail.
    await writeFile(join(dir, 'host.dockerignore'), 'kept\n');
    const ctx = await tarContext('link-in', {
      'build/real.Dockerfile': 'FROM scratch\nCOPY kept /kept\n', Dockerfile: { link: '/build/real.Dockerfile' }, kept: 'yes\n',
      '.dockerignore': { link: join(dir, 'host.dockerignore') },
    });
    const run = await runExecutor([ctx, root(), '--no-push']);
    assert.equal(run.code, 0, run.stderr);
  });

  test('--dockerfile that leaves the context names the flag', async () => {
    const ctx = await tarContext('plain', { Dockerfile: 'FROM scratch\n' });
    assert.match(oneErrorLine(await runExecutor([ctx, root(), '--no-push', '--dockerfile=../../nope/Dockerfile'])), /--dockerfile \.\.\/\.\.\/nope\/Dockerfile is outside the build context/);
  });

  /** A dir:// context holding one Dockerfile. */
  async function dirContext(name: string, dockerfile: string | Buffer): Promise<string> {
    const src = join(dir, name);
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'Dockerfile'), dockerfile);
    return `--context=dir://${src}`;
  }

  for (const kind of ['ARG', 'ENV'] as const) {
    test(`${kind} that doubles itself 40 times stops at the 1 MiB word limit, naming the line`, async () => {
      const lines = ['FROM scratch', `${kind} A=xxxxxxxxxxxxxxxx`, ...Array.from({ length: 40 }, () => `${kind} A=\${A}\${A}`)];
      const ctx = await dirContext(`double-${kind}`, lines.join('\n') + '\n');
      // 16 × 2^16 = 1 MiB: line 2 + 16 doublings fits, the 17th (line 19) is over.
      assert.match(oneErrorLine(await runExecutor([ctx, root(), '--no-push'], { timeoutMs: 60_000 })), /Dockerfile:19: failed to process "\$\{A\}\$\{A\}": the expanded word is longer than 1048576 characters \(1 MiB\)/);
    });
  }

  test('a meta ARG (before FROM) that doubles itself stops at the limit too', async () => {
    const lines = ['ARG A=xxxxxxxxxxxxxxxx', ...Array.from({ length: 40 }, () => 'ARG A=${A}${A}'), 'FROM scratch'];
    const ctx = await dirContext('double-meta', lines.join('\n') + '\n');
    assert.match(oneErrorLine(await runExecutor([ctx, root(), '--no-push'], { timeoutMs: 60_000 })), /the expanded word is longer than 1048576 characters/);
  });

  test('100,000 instructions without layers build (no recursion that follows the Dockerfile length)', async () => {
    const name = (i: number): number => Math.floor(i / 5) % 50;
    const kinds = [(i: number) => `ENV E${name(i)}=v${i}`, (i: number) => `LABEL l${name(i)}="v ${i}"`, (i: number) => `ARG A${name(i)}=${i}`, (i: number) => `EXPOSE ${1000 + name(i)}`, (i: number) => `STOPSIGNAL ${1 + (i % 30)}`];
    const lines = ['FROM scratch', ...Array.from({ length: 100_000 }, (_, i) => kinds[i % kinds.length]!(i))];
    const ctx = await dirContext('deep', lines.join('\n') + '\n');
    const layout = join(dir, 'deep-oci');
    const run = await runExecutor([ctx, root(), '--no-push', `--oci-layout-path=${layout}`], { timeoutMs: 300_000 });
    assert.equal(run.code, 0, run.stderr.slice(-2000));
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = async (d: string): Promise<string> => readFile(join(layout, 'blobs', ...d.split(':')), 'utf8');
    const manifest = JSON.parse(await blob(index.manifests[0]!.digest)) as { config: { digest: string } };
    const config = JSON.parse(await blob(manifest.config.digest)) as { history: unknown[]; config: { Env?: string[]; ExposedPorts?: Record<string, unknown> } };
    assert.equal(config.history.length, 100_000, 'one history entry per instruction');
    assert.equal(config.config.Env?.filter((e) => /^E\d+=/.test(e)).length, 50);
    assert.equal(Object.keys(config.config.ExposedPorts ?? {}).length, 50);
  });

  test('a Dockerfile above 10 MiB is refused before it is read, naming the file', async () => {
    const ctx = await dirContext('huge', 'FROM scratch\n' + `LABEL a="${'x'.repeat(10 * 1024 * 1024)}"\n`);
    assert.match(oneErrorLine(await runExecutor([ctx, root(), '--no-push'])), /Dockerfile: the Dockerfile is \d+ bytes, above the limit of 10485760 \(10 MiB\)/);
  });

  test('control characters from the Dockerfile are shown escaped in the error line', async () => {
    const ctx = await dirContext('nul', Buffer.from('FROM scratch\nFRO\u0000B\u001b[31m a\n'));
    const run = await runExecutor([ctx, root(), '--no-push']);
    const line = oneErrorLine(run);
    assert.match(line, /Dockerfile:2: unknown instruction: FRO\\x00B\\x1b\[31M/);
    assert.doesNotMatch(run.stderr, /[\u0000\u001b]/u, 'no raw control character reaches stderr');
  });

  describe('a truncated base layer', () => {
    let registry: TestRegistry;
    let base: string;
    before(async () => {
      registry = await startRegistry();
      base = `${registry.host}/hardening/base:1`;
      await pushBusyboxBase(base);
    });
    after(async () => { await registry.stop(); });

    test('fails in one line naming the image and the layer digest, nothing pushed', async () => {
      const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${base}`], { encoding: 'utf8' });
      const layerDigest = (JSON.parse(raw) as { layers: { digest: string }[] }).layers[0]!.digest;
      const hex = layerDigest.slice('sha256:'.length);
      const data = join(registry.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
      await truncate(data, Math.floor((await stat(data)).size / 2));
      const ctx = await dirContext('truncated', `FROM ${base}\nRUN true\n`);
      const dest = `${registry.host}/hardening/out:1`;
      const line = oneErrorLine(await runExecutor([ctx, root(), `--destination=${dest}`, '--insecure', '--insecure-pull', '--image-fs-extract-retry=0']));
      assert.ok(line.includes(layerDigest), line);
      assert.match(line, new RegExp(`of image ${base.replace(/[.:/]/g, '\\$&')}`));
      // Layers may have gone up early (by design); no manifest, so the registry shows no image.
      const manifests = await readdir(join(registry.dataDir, 'docker/registry/v2/repositories/hardening/out/_manifests')).catch(() => []);
      assert.deepEqual(manifests, [], 'no manifest pushed');
    });
  });
});
