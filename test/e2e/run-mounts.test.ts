// RUN --mount=type=cache and --mount=type=bind through the executor with --root-dir on the busybox base.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { contextBuilds } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoConfig } from '../support/run-image.ts';

describe('RUN mounts: cache and bind', () => {
  let registry: TestRegistry;
  let work: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-run-mounts-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  const build = contextBuilds({ work: () => work, registryHost: () => registry.host, repo: 'mounts', base: () => `${registry.host}/busybox:latest` });
  const emptyLayers = async (name: string, last: number): Promise<boolean[]> => {
    const config = await skopeoConfig(`docker://${registry.host}/mounts/${name}:latest`, ['--tls-verify=false']);
    return (config['history'] as { empty_layer?: boolean }[]).slice(-last).map((h) => h.empty_layer === true);
  };

  test('type=cache persists between builds (by id), mode/uid/gid, ro; nothing of it in a layer', async () => {
    const cacheDir = join(work, 'cache-mounts');
    const dockerfile = [
      'FROM BASE',
      'RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && echo "count: $(wc -l < /var/cache/app/log)"',
      'RUN --mount=type=cache,id=shared,target=/a,mode=0710,uid=7,gid=8 stat -c "perm: %a %u:%g" /a && touch /a/from-a',
      'RUN --mount=type=cache,id=shared,target=/b,mode=0710,uid=7,gid=8 echo "same id: $(ls /b)"',
      'RUN --mount=type=cache,id=twice,target=/t1,sharing=locked --mount=type=cache,id=twice,target=/t2,sharing=locked touch /t1/x && test -e /t2/x',
      'RUN --mount=type=cache,target=/ro,ro if touch /ro/x 2>/dev/null; then echo ro-writable; else echo ro-ok; fi',
      'RUN test ! -e /var/cache/app && test ! -e /a && test ! -e /b && test ! -e /ro && test ! -e /t1 && echo clean > /clean',
      '',
    ].join('\n');
    const first = await build('cache', dockerfile, [`--cache-mount-dir=${cacheDir}`]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^count: 1$/m);
    assert.match(first.stdout, /^perm: 710 7:8$/m);
    assert.match(first.stdout, /^same id: from-a$/m);
    assert.match(first.stdout, /^ro-ok$/m);
    assert.deepEqual(await emptyLayers('cache', 6), [true, true, true, true, true, false], 'cache RUNs add no layer');
    const second = await build('cache', dockerfile, [`--cache-mount-dir=${cacheDir}`]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^count: 2$/m);
    // The contents live under --cache-mount-dir, one directory per cache.
    assert.equal((await readdir(cacheDir)).length, 4);
  });

  test('type=cache contents are not part of the RUN cache key; the mount spec is', async () => {
    const cacheDir = join(work, 'cache-mounts-key');
    const layers = join(work, 'layers-key');
    const args = [`--cache-mount-dir=${cacheDir}`, '--cache', `--cache-repo=oci:${layers}`];
    const dockerfile = 'FROM BASE\nRUN --mount=type=cache,target=/c date +%N >> /c/log && echo built > /out\n';
    const first = await build('cache-key', dockerfile, args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /No cached layer found for cmd/);
    const second = await build('cache-key', dockerfile, args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /Using caching version of cmd/);
    const other = await build('cache-key', dockerfile.replace('target=/c', 'target=/c,id=other').replaceAll('/c/', '/c/'), args);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stderr, /No cached layer found for cmd/);
  });

  test('type=cache sharing=locked: concurrent builds take turns; sharing=private: a concurrent build gets its own instance', async () => {
    const cacheDir = join(work, 'cache-mounts-sharing');
    const locked = (who: string): string => [
      'FROM BASE',
      `RUN --mount=type=cache,id=l,target=/c,sharing=locked echo ${who}-start >> /c/log && sleep 4 && echo ${who}-end >> /c/log`,
      '',
    ].join('\n');
    const [a, b] = await Promise.all([
      build('locked-a', locked('a'), [`--cache-mount-dir=${cacheDir}`]),
      build('locked-b', locked('b'), [`--cache-mount-dir=${cacheDir}`]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(a.stderr + b.stderr, /Waiting for the cache mount l: another build holds it \(sharing=locked\)/, 'the builds overlapped');
    const [logDir] = (await readdir(cacheDir)).filter((d) => d.startsWith('l-'));
    const log = (await readFile(join(cacheDir, logDir ?? '', '0', 'log'), 'utf8')).trim().split('\n');
    assert.equal(log.length, 4);
    assert.equal(log[0]?.replace('-start', ''), log[1]?.replace('-end', ''), `no interleaving: ${log.join(' ')}`);

    const priv = (who: string): string => [
      'FROM BASE',
      `RUN --mount=type=cache,id=p,target=/c,sharing=private touch /c/${who} && sleep 4 && echo "${who} sees: $(ls /c | tr '\\n' ' ')"`,
      '',
    ].join('\n');
    const [p, q] = await Promise.all([
      build('private-p', priv('p'), [`--cache-mount-dir=${cacheDir}`]),
      build('private-q', priv('q'), [`--cache-mount-dir=${cacheDir}`]),
    ]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(q.code, 0, q.stderr);
    assert.match(p.stdout, /^p sees: p $/m);
    assert.match(q.stdout, /^q sees: q $/m);
    const [privDir] = (await readdir(cacheDir)).filter((d) => d.startsWith('p-'));
    assert.deepEqual((await readdir(join(cacheDir, privDir ?? ''))).filter((e) => !e.endsWith('.lock')).sort(), ['0', '1']);
  });

  test('type=bind: the context (read-only, .dockerignore applies), source file/dir, from=stage/index/image, rw discarded; nothing in a layer', async () => {
    const image = `${registry.host}/busybox:latest`;
    const run = await build('bind', [
      'FROM BASE AS builder',
      'RUN mkdir -p /out/sub && echo built > /out/bin && echo deep > /out/sub/x',
      'FROM BASE',
      'ARG DATA=data',
      'RUN --mount=target=/src echo "ctx: $(cat /src/data/a.txt) $(ls /src | tr \'\\n\' \' \')" && if touch /src/new 2>/dev/null; then echo ctx-writable; else echo ctx-ro; fi',
      'RUN --mount=type=bind,source=${DATA}/a.txt,target=/etc/a.conf echo "file: $(cat /etc/a.conf)"',
      'RUN --mount=type=bind,from=builder,source=/out,target=/mnt/out echo "stage: $(cat /mnt/out/bin) $(cat /mnt/out/sub/x)"',
      'RUN --mount=type=bind,from=0,source=out/bin,target=/b echo "index: $(cat /b)"',
      'RUN --mount=type=cache,target=/seeded,from=builder,source=/out,id=seeded echo "seeded: $(cat /seeded/bin)"',
      `RUN --mount=type=bind,from=${image},source=/etc,target=/img echo "image: $(head -1 /img/passwd)"`,
      'RUN --mount=type=bind,source=data,target=/w,rw echo changed > /w/a.txt && echo "rw: $(cat /w/a.txt)"',
      'RUN --mount=type=bind,target=/src --mount=type=cache,target=/src/data --mount=type=tmpfs,target=/src/data/t touch /src/data/c /src/data/t/t && echo "nested: $(ls /src/data | tr \'\\n\' \' \')"',
      'RUN test ! -e /src && test ! -e /etc/a.conf && test ! -e /mnt && test ! -e /b && test ! -e /img && test ! -e /w && echo clean > /clean',
      '',
    ].join('\n'), [`--cache-mount-dir=${join(work, 'cache-mounts-bind')}`], { files: {
      'data/a.txt': 'hello\n', 'hidden.txt': 'no\n', '.dockerignore': 'hidden.txt\n',
    } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^ctx: hello Dockerfile data $/m);
    assert.match(run.stdout, /^ctx-ro$/m);
    assert.match(run.stdout, /^file: hello$/m);
    assert.match(run.stdout, /^stage: built deep$/m);
    assert.match(run.stdout, /^index: built$/m);
    assert.match(run.stdout, /^seeded: built$/m);
    assert.match(run.stdout, /^image: root:x:0:0:root:\/root:\/bin\/sh$/m);
    assert.match(run.stdout, /^rw: changed$/m);
    assert.match(run.stdout, /^nested: c t $/m, 'a cache on top of the read-only bind, a tmpfs on top of the cache');
    assert.equal(await readFile(join(work, 'bind', 'data', 'a.txt'), 'utf8'), 'hello\n', 'rw writes are discarded');
    const [dataCache] = (await readdir(join(work, 'cache-mounts-bind'))).filter((d) => !d.startsWith('seeded-'));
    assert.deepEqual(await readdir(join(work, 'cache-mounts-bind', dataCache ?? '', '0')), ['c'], 'the tmpfs stub was removed from the cache');
    assert.deepEqual(await emptyLayers('bind', 9), [true, true, true, true, true, true, true, true, false], 'bind RUNs add no layer');
  });

  test('type=bind: the RUN cache key follows the mounted content', async () => {
    const layers = join(work, 'layers-bind');
    const args = ['--cache', `--cache-repo=oci:${layers}`];
    const dockerfile = 'FROM BASE\nRUN --mount=target=/src,source=in cat /src/v > /v\n';
    const ctx = { 'in/v': 'one\n', 'other.txt': 'x\n' };
    const first = await build('bind-key', dockerfile, args, { files: ctx });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /No cached layer found for cmd/);
    const same = await build('bind-key', dockerfile, args, { files: { ...ctx, 'other.txt': 'changed outside the mount\n' } });
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stderr, /Using caching version of cmd/);
    const changed = await build('bind-key', dockerfile, args, { files: { ...ctx, 'in/v': 'two\n' } });
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stderr, /No cached layer found for cmd/);
  });

  test('bad mounts: one line naming Dockerfile:line', async () => {
    for (const [line, re] of [
      ['RUN --mount=target=/s,source=nope true', /^error: .*Dockerfile:2: RUN --mount=type=bind: source \/nope not found in the build context$/m],
      ['RUN --mount=target=/s,source=hidden.txt true', /^error: .*Dockerfile:2: RUN --mount=type=bind: source \/hidden.txt not found in the build context$/m],
      ['RUN --mount=type=bind,source=x true', /^error: .*Dockerfile:2: RUN --mount=type=bind,source=x: mount destination is required$/m],
      ['RUN --mount=type=cache,target=/c,sharing=often true', /^error: .*Dockerfile:2: RUN --mount=type=cache,target=\/c,sharing=often: unsupported sharing value "often"$/m],
    ] as const) {
      const run = await build(`bad-${n++}`, `FROM BASE\n${line}\n`, [], { files: { 'hidden.txt': 'x', '.dockerignore': 'hidden.txt\n' } });
      assert.notEqual(run.code, 0, line);
      assert.match(run.stderr, re, run.stderr);
    }
  });
});
