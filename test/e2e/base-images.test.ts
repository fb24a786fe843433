// Base images from the registry that need care: a manifest list (FROM --platform / --custom-platform pick the
// entry), and hostile layers whose entries try to leave the build root — refused, nothing written outside.
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import * as tar from 'tar-stream';
import { anonymousKeychain } from '../../src/auth/index.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { writeImage, type RemoteOptions } from '../../src/registry/remote.ts';
import { MediaTypes } from '../../src/oci/types.ts';
import { runExecutor } from '../support/executor-process.ts';
import { fixtureImage, fixtureLayer, layerOfTar } from '../support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoInspect } from '../support/run-image.ts';

type Entry = { name: string; type?: 'file' | 'symlink' | 'link' | 'directory'; linkname?: string; body?: string };

async function rawTar(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    pack.entry({ name: e.name, type: e.type ?? 'file', size: e.type === undefined || e.type === 'file' ? body.length : 0,
      mode: e.type === 'directory' ? 0o755 : 0o644, mtime: new Date(0), ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) },
    e.type === undefined || e.type === 'file' ? body : Buffer.alloc(0));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('base images', () => {
  let registry: TestRegistry;
  let work: string;
  let opts: RemoteOptions;
  let client: RegistryClient;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-bases-'));
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

  async function build(name: string, dockerfile: string, extra: string[] = []) {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    await writeFile(join(dir, 'file.txt'), 'context file\n');
    const outside = join(work, `${name}-outside`);
    await mkdir(join(outside, 'sentinel'), { recursive: true });
    const root = join(outside, 'root');
    const run = await runExecutor([`--context=dir://${dir}`, `--root-dir=${root}`, '--no-push', `--tar-path=${join(dir, 'out.tar')}`,
      '--insecure-pull', '--log-format=text', ...extra]);
    return { run, outside, tarPath: join(dir, 'out.tar') };
  }

  test('a manifest list: FROM --platform and --custom-platform pick the matching image', async () => {
    const amd = await fixtureImage([await fixtureLayer([{ name: 'arch', content: 'amd64' }])], { platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await fixtureImage([await fixtureLayer([{ name: 'arch', content: 'arm64' }])], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const repo = `${registry.host}/multi/base`;
    const amdDigest = await writeImage(parseReference(`${repo}@${await amd.digest()}`), amd, { ...opts, client });
    const armDigest = await writeImage(parseReference(`${repo}@${await arm.digest()}`), arm, { ...opts, client });
    const index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2, mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.ociManifest, digest: amdDigest, size: (await amd.rawManifest()).byteLength, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MediaTypes.ociManifest, digest: armDigest, size: (await arm.rawManifest()).byteLength, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }));
    await client.putManifest(parseReference(`${repo}:multi`), index, MediaTypes.ociIndex);

    const viaFrom = await build('platform-from', `FROM --platform=linux/arm64 ${repo}:multi\nCOPY file.txt /file.txt\n`);
    assert.equal(viaFrom.run.code, 0, viaFrom.run.stderr);
    const info = await skopeoInspect(`docker-archive:${viaFrom.tarPath}`);
    assert.equal(info['Architecture'], 'arm64');
    assert.equal((info['Layers'] as string[])[0], (await arm.configFile()).rootfs.diff_ids[0], 'the arm64 base layer');

    const viaFlag = await build('platform-flag', `FROM ${repo}:multi\nCOPY file.txt /file.txt\n`, ['--custom-platform=linux/arm64']);
    assert.equal(viaFlag.run.code, 0, viaFlag.run.stderr);
    assert.equal((await skopeoInspect(`docker-archive:${viaFlag.tarPath}`))['Architecture'], 'arm64');

    const none = await build('platform-none', `FROM ${repo}:multi\nCOPY file.txt /\n`, ['--custom-platform=linux/s390x']);
    assert.equal(none.run.code, 1);
    assert.match(none.run.stderr, /^error: .*no manifest for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)/m);
  });

  const hostile: readonly [string, Entry[]][] = [
    ['a ../ entry', [{ name: '../../escaped-dotdot', body: 'x' }]],
    ['an absolute path climbing out', [{ name: '/abs/../../../escaped-abs', body: 'x' }]],
    ['a symlink to / then a write through it', [{ name: 'link', type: 'symlink', linkname: '/' }, { name: 'link/../../escaped-symlink', body: 'x' }]],
    ['a symlink climbing out then a write through it', [{ name: 'up', type: 'symlink', linkname: '../../..' }, { name: 'up/escaped-up', body: 'x' }]],
    ['a hardlink to a file outside', [{ name: 'hard', type: 'link', linkname: '../../sentinel/nothing' }]],
  ];
  for (const [what, entries] of hostile) {
    test(`a base layer with ${what} is refused or kept inside the root; nothing is written outside`, async () => {
      const image = await fixtureImage([layerOfTar(await rawTar(entries), { gzip: true })]);
      const ref = `${registry.host}/hostile/base-${n++}:latest`;
      await writeImage(parseReference(ref), image, { ...opts, client });
      const { run, outside } = await build(`hostile-${n}`, `FROM ${ref}\nCOPY file.txt /file.txt\n`);
      if (run.code !== 0) {
        assert.equal(run.code, 1);
        const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
        assert.equal(errors.length, 1, run.stderr);
        assert.match(errors[0] ?? '', /tar entry|leave|outside|escape|link/i);
      }
      assert.deepEqual((await readdir(outside)).sort(), ['root', 'sentinel'], 'nothing next to the root');
      assert.deepEqual(await readdir(join(outside, 'sentinel')), []);
      for (const name of ['escaped-dotdot', 'escaped-abs', 'escaped-symlink', 'escaped-up']) {
        await assert.rejects(access(join(work, name)));
        await assert.rejects(access(join('/tmp', name)));
      }
    });
  }
});
