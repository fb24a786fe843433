// Named build contexts in container mode: the executor builds '/' of a fresh mount + pid namespace (as in
// container-mode-copy.test.ts); a local named context directory inside '/' survives the reset after a stage that
// RUNs, is read by COPY --from and RUN --mount from=, and never reaches a layer. named-contexts.test.ts covers --root-dir.
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { flattenImage } from '../conformance/harness.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-named-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: a local named context survives the reset, is read by COPY --from and mount from=, stays out of layers', { timeout: 600_000 }, async () => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp', 'srv/extra']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await writeFile(join(root, 'srv', 'extra', 'e.txt'), 'extra context\n');
  const context = join(work, 'context');
  await mkdir(context, { recursive: true });
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${registry.host}/busybox:latest AS first`,
    'RUN echo first > /first',
    `FROM ${registry.host}/busybox:latest`,
    'COPY --from=first /first /first',
    'COPY --from=extra /e.txt /copied.txt',
    'RUN --mount=type=bind,from=extra,target=/mnt cat /mnt/e.txt && cp /mnt/e.txt /mounted.txt',
    '',
  ].join('\n'));
  await cp(context, join(root, 'workspace'), { recursive: true });
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const destination = `${registry.host}/container-named:latest`;
  const run = await runContained(script, root, ['--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull',
    '--log-format=text', '--build-context=extra=/srv/extra']);
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  assert.match(run.stdout, /^extra context$/m);
  const img = await flattenImage(destination, join(work, 'flat'));
  for (const p of ['/first', '/copied.txt', '/mounted.txt']) assert.ok(img.entries.some((e) => e.path === p), `${p} missing`);
  assert.ok(!img.entries.some((e) => e.path.startsWith('/srv')), 'the named context directory is not image content');
});
