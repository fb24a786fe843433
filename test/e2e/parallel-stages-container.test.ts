// Parallel stages in container mode (issue 18): '/' is the target's; a non-target stage builds in its own directory
// under the kaniko dir, its RUNs chrooted there (in a runc container with Docker's default capabilities too); only
// where chroot is refused (no CAP_SYS_CHROOT) does a stage that RUNs take '/' before the target. The same digest
// whatever the bound and whichever way.
import assert from 'node:assert/strict';
import { watch } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { dockerDefaultCapabilities, runContained, runInRunc, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage } from '../support/run-image.ts';

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'parallel-container-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: non-target stages build in their own directory, same digest at 1 and by default', { timeout: 600_000 }, async () => {
  const base = `${registry.host}/busybox:latest`;
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'a.txt'), 'copied in stage a\n');
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${base} AS a`, 'COPY a.txt /marker-a',
    // Stage b RUNs chrooted in its own directory: the container's '/' (with /kaniko) is not what it sees.
    `FROM ${base} AS b`, 'RUN echo "run in stage b" > /marker-b && test ! -e /marker-a && test ! -e /kaniko',
    `FROM ${base} AS c`, 'WORKDIR /c', 'COPY a.txt c.txt',
    // RUN mounts in such a stage: the helper's mount namespace, then the chroot; nothing of them stays behind.
    `FROM ${base} AS m`, 'RUN --mount=type=tmpfs,target=/t --mount=type=bind,target=/ctx --mount=type=cache,target=/cache '
      + 'echo t > /t/x && cat /ctx/a.txt > /from-ctx && echo c >> /cache/log && test ! -e /kaniko',
    `FROM ${base}`,
    // Stages a and b were built in their own directories under the work directory (inside /kaniko), never in '/'.
    'RUN test -f /kaniko/build-*/stages/0/marker-a && test -f /kaniko/build-*/stages/1/marker-b && test ! -e /marker-a && test ! -e /marker-b',
    'RUN cd /kaniko/build-*/stages/3 && test -f from-ctx && test ! -e t && test ! -e ctx && test ! -e cache',
    'COPY --from=a /marker-a /a', 'COPY --from=b /marker-b /b', 'COPY --from=c /c/c.txt /c', 'COPY --from=m /from-ctx /m',
    'CMD ["cat", "/a", "/b", "/c", "/m"]', '',
  ].join('\n'));
  await cp(context, join(root, 'workspace'), { recursive: true });
  const script = await writeContainerWrapper(join(work, 'enter-root.sh'));
  const digests: string[] = [];
  for (const [i, bound] of [['1'], []].entries()) {
    const run = await runContained(script, root, [
      '--context=dir:///workspace', `--destination=${registry.host}/parallel-container:${i}`, '--insecure', '--insecure-pull',
      '--log-format=text', '--reproducible', '--cleanup', `--digest-file=/workspace/digest-${i}`,
      ...bound.map((b) => `--max-parallel-stages=${b}`),
    ], 300_000);
    assert.equal(run.code, 0, `executor failed:\n${run.stderr}\n${run.stdout}`);
    digests.push((await readFile(join(root, 'workspace', `digest-${i}`), 'utf8')).trim());
  }
  assert.match(digests[0] ?? '', /^sha256:/);
  assert.equal(digests[1], digests[0]);
  const { stdout } = await runImage(`docker://${registry.host}/parallel-container:1`);
  assert.equal(stdout, 'copied in stage a\nrun in stage b\ncopied in stage a\ncopied in stage a\n');
});

test('runc, Docker\'s default capabilities: RUN stages chrooted in their own directory, never in /; without SYS_CHROOT in /, without MKNOD no /dev nodes (same digest)', { timeout: 900_000 }, async () => {
  const base = `${registry.host}/busybox:latest`;
  const context = join(work, 'context-runc');
  await mkdir(context);
  // Each non-target stage says where its RUN ran (/kaniko is in the container's '/', not in a stage directory) and
  // what it had; only the fixed out-* files reach the target, so the image is the same whichever way it was built.
  const where = (s: string): string => `RUN if [ -e /kaniko ]; then w=slash; else w=own; fi; echo "where-${s}=$w"; `
    + `echo x > /dev/null && head -c 3 /dev/zero > /dev/null && echo "dev-${s}=ok"; [ -e /proc/self ] || echo "proc-${s}=none"; `
    + `[ -s /etc/resolv.conf ] && echo "resolv-${s}=ok"; echo "built by ${s}" > /out-${s}`;
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${base} AS a`, where('a'),
    `FROM ${base} AS b`, where('b'),
    `FROM ${base}`,
    'COPY --from=a /out-a /a', 'COPY --from=b /out-b /b',
    // The copies of resolv.conf and hosts the chrooted RUN had are gone from the stage's directory.
    'RUN ls /kaniko/build-*/stages/*/etc/hosts 2>/dev/null || echo "no hosts left"',
    'CMD ["cat", "/a", "/b"]', '',
  ].join('\n'));
  await rm(join(root, 'workspace'), { recursive: true, force: true });
  await cp(context, join(root, 'workspace'), { recursive: true });
  // A line the RUN printed (as is, or prefixed with its stage), not the instruction's text in the log.
  const said = (fact: string, stage: string, value: string): RegExp => new RegExp(`^(\\[${stage}\\] )?${fact}-${stage}=${value}$`, 'mu');
  const noChroot = dockerDefaultCapabilities.filter((c) => c !== 'CAP_SYS_CHROOT');
  const noMknod = dockerDefaultCapabilities.filter((c) => c !== 'CAP_MKNOD');
  const digests: string[] = [];
  const runs = [[dockerDefaultCapabilities, []], [dockerDefaultCapabilities, ['1']], [noChroot, []], [noMknod, []]] as const;
  for (const [i, [caps, bound]] of runs.entries()) {
    // What appears in the container's '/' (the bundle's root on the host) while the build runs.
    const seen = new Set<string>();
    const watcher = watch(root, (_event, name) => { if (name !== null) seen.add(name); });
    const run = await runInRunc(root, join(work, `bundle-${i}`), [
      '--context=dir:///workspace', `--destination=${registry.host}/parallel-runc:${i}`, '--insecure', '--insecure-pull',
      '--log-format=text', '--reproducible', `--digest-file=/workspace/digest-${i}`, ...bound.map((b) => `--max-parallel-stages=${b}`),
    ], { capabilities: caps, timeoutMs: 300_000 }).finally(() => watcher.close());
    const log = `${run.stderr}\n${run.stdout}`;
    assert.equal(run.code, 0, `executor failed:\n${log}`);
    digests.push((await readFile(join(root, 'workspace', `digest-${i}`), 'utf8')).trim());
    if (caps === noChroot) {
      assert.match(log, /chroot is not permitted here \(Operation not permitted\): stages that RUN build in \/ one at a time, before the target/);
      assert.match(log, said('where', 'a', 'slash'));
      assert.match(log, /Deleting filesystem/);
      assert.ok(seen.has('out-a') || seen.has('out-b'), `the fallback wrote into '/': ${[...seen].join(' ')}`);
    } else if (caps === noMknod) {
      // mknod refused: the chroot's /dev has no nodes, /dev/null is a plain file for the command.
      assert.match(log, /chrooted in their own directory: no \/proc there \(mounting one needs CAP_SYS_ADMIN\), \/dev without device nodes, \/dev\/null a plain file \(mknod: Operation not permitted\)/);
      assert.match(log, said('where', 'a', 'own'));
      assert.match(log, /head: \/dev\/zero: No such file or directory/);
      assert.doesNotMatch(log, said('dev', 'a', 'ok'));
      assert.doesNotMatch(log, /cannot remove/);
    } else {
      assert.match(log, /Stages other than the target RUN chrooted in their own directory: no \/proc there/);
      for (const s of ['a', 'b']) {
        for (const [fact, value] of [['where', 'own'], ['dev', 'ok'], ['proc', 'none'], ['resolv', 'ok']] as const) {
          assert.match(log, said(fact, s, value), `${fact}-${s}:\n${log}`);
        }
      }
      assert.match(log, /no hosts left/);
      // Nothing of a non-target stage was ever written to '/', and '/' was never reset between stages.
      assert.deepEqual([...seen].filter((n) => n.startsWith('out-')), []);
      assert.doesNotMatch(log, /Deleting filesystem/);
    }
  }
  assert.match(digests[0] ?? '', /^sha256:/);
  assert.deepEqual(digests, runs.map(() => digests[0]));
  const { stdout } = await runImage(`docker://${registry.host}/parallel-runc:0`);
  assert.equal(stdout, 'built by a\nbuilt by b\n');
});

test('runc, Docker\'s default capabilities: RUN --mount in a chrooted stage fails with one line naming the missing capability', { timeout: 300_000 }, async () => {
  await rm(join(root, 'workspace'), { recursive: true, force: true });
  await mkdir(join(root, 'workspace'));
  await writeFile(join(root, 'workspace', 'Dockerfile'), [
    `FROM ${registry.host}/busybox:latest AS a`, 'RUN --mount=type=tmpfs,target=/t echo t > /t/x',
    `FROM ${registry.host}/busybox:latest`, 'COPY --from=a /bin/sh /sh', '',
  ].join('\n'));
  const run = await runInRunc(root, join(work, 'bundle-mount'), [
    '--context=dir:///workspace', `--destination=${registry.host}/parallel-runc:mount`, '--insecure', '--insecure-pull', '--log-format=text',
  ], { capabilities: dockerDefaultCapabilities, timeoutMs: 240_000 });
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /Dockerfile:2: .*RUN --mount needs a mount namespace, which this container does not allow \(no CAP_SYS_ADMIN\)/);
});
