// Parallel stages in container mode (issue 18): '/' is the target's; a non-target stage without RUN builds in its own
// directory under the kaniko dir, a stage that RUNs takes '/' before the target. The same digest whatever the bound.
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
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

test('container mode: copy-only stages build in their own directory, RUN stages in /, same digest at 1 and by default', { timeout: 600_000 }, async () => {
  const base = `${registry.host}/busybox:latest`;
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'a.txt'), 'copied in stage a\n');
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${base} AS a`, 'COPY a.txt /marker-a',
    `FROM ${base} AS b`, 'RUN echo "run in stage b" > /marker-b && test ! -e /marker-a',
    `FROM ${base} AS c`, 'WORKDIR /c', 'COPY a.txt c.txt',
    `FROM ${base}`,
    // Stage a was built in its own directory under the work directory (inside /kaniko), never in '/'.
    'RUN test -f /kaniko/build-*/stages/0/marker-a && test ! -e /marker-a && test ! -e /marker-b',
    'COPY --from=a /marker-a /a', 'COPY --from=b /marker-b /b', 'COPY --from=c /c/c.txt /c',
    'CMD ["cat", "/a", "/b", "/c"]', '',
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
  assert.equal(stdout, 'copied in stage a\nrun in stage b\ncopied in stage a\n');
});
