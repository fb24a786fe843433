// RUN --mount=type=cache and type=bind in container mode: the executor builds '/' of a fresh mount + pid namespace
// (as in container-mode.test.ts); the helper makes a mount namespace of its own for the mounts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoConfig } from '../support/run-image.ts';

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-mounts-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: cache mounts persist (default dir and --cache-mount-dir), bind mounts of the context and a stage; nothing in a layer', { timeout: 600_000 }, async () => {
  const context = join(work, 'context');
  await mkdir(join(context, 'data'), { recursive: true });
  await writeFile(join(context, 'data', 'a.txt'), 'hello\n');
  await writeFile(join(context, 'hidden.txt'), 'no\n');
  await writeFile(join(context, '.dockerignore'), 'hidden.txt\n');
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${registry.host}/busybox:latest AS builder`,
    'RUN mkdir /out && echo built > /out/bin',
    `FROM ${registry.host}/busybox:latest`,
    'RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && echo "count: $(wc -l < /var/cache/app/log)"',
    'RUN --mount=type=cache,id=locked,target=/l,sharing=locked,uid=7 echo "locked: $(stat -c %u /l)"',
    'RUN --mount=target=/src echo "ctx: $(cat /src/data/a.txt) $(ls /src | tr \'\\n\' \' \')" && if touch /src/x 2>/dev/null; then echo ctx-writable; else echo ctx-ro; fi',
    'RUN --mount=type=bind,from=builder,source=/out,target=/mnt/out echo "stage: $(cat /mnt/out/bin)"',
    'RUN --mount=type=bind,source=data,target=/w,rw echo changed > /w/a.txt && echo "rw: $(cat /w/a.txt)"',
    'RUN --mount=target=/src --mount=type=cache,target=/src/data touch /src/data/c && echo "nested: $(ls /src/data)"',
    'RUN test ! -e /var/cache/app && test ! -e /l && test ! -e /src && test ! -e /mnt && test ! -e /w && echo clean > /clean',
    '',
  ].join('\n'));
  await cp(context, join(root, 'workspace'), { recursive: true });
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const destination = `${registry.host}/container-mounts:latest`;
  const args = ['--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull', '--log-format=text'];
  const first = await runContained(script, root, args);
  assert.equal(first.code, 0, `${first.stderr}\n${first.stdout}`);
  assert.match(first.stdout, /^count: 1$/m);
  assert.match(first.stdout, /^locked: 7$/m);
  assert.match(first.stdout, /^ctx: hello Dockerfile data $/m);
  assert.match(first.stdout, /^ctx-ro$/m);
  assert.match(first.stdout, /^stage: built$/m);
  assert.match(first.stdout, /^rw: changed$/m);
  assert.match(first.stdout, /^nested: c$/m);
  const config = await skopeoConfig(`docker://${destination}`, ['--tls-verify=false']);
  const ours = (config['history'] as { empty_layer?: boolean }[]).slice(-7);
  assert.deepEqual(ours.map((h) => h.empty_layer === true), [true, true, true, true, true, true, false], 'mount RUNs add no layer');
  // The default cache directory is under the kaniko dir, so it outlives the build (a volume in a Pod).
  assert.ok((await readdir(join(root, 'kaniko', 'cache-mounts'))).length >= 3);

  // A second build: the cache is still there; a --cache-mount-dir outside /kaniko is left out of the layers too.
  const second = await runContained(script, root, [...args, '--cache-mount-dir=/cache-mounts', '--tar-path=/saved.tar']);
  assert.equal(second.code, 0, `${second.stderr}\n${second.stdout}`);
  const saved = join(work, 'saved');
  await mkdir(saved);
  execFileSync('tar', ['-xf', join(root, 'saved.tar'), '-C', saved]);
  const manifest = JSON.parse(await readFile(join(saved, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  for (const layer of manifest[0]?.Layers ?? []) {
    const entries = execFileSync('tar', ['-tf', join(saved, layer)], { encoding: 'utf8' }).split('\n');
    const leaked = entries.filter((e) => /^(\.\/)?(cache-mounts|kaniko|src|mnt|w|l|var\/cache)(\/|$)/u.test(e));
    assert.deepEqual(leaked, [], `layer ${layer}`);
  }
  assert.match(second.stdout, /^count: 1$/m, 'another cache directory: another cache');
  // Kept through the reset between stages (a later build without the flag treats it as any other path of '/').
  assert.ok((await readdir(join(root, 'cache-mounts'))).length >= 3);
  const third = await runContained(script, root, args);
  assert.equal(third.code, 0, `${third.stderr}\n${third.stdout}`);
  assert.match(third.stdout, /^count: 2$/m);
  const again = await skopeoConfig(`docker://${destination}`, ['--tls-verify=false']);
  assert.equal((again['history'] as unknown[]).length, (config['history'] as unknown[]).length);
  assert.deepEqual(await readdir(join(root, 'dev')), []);
});
