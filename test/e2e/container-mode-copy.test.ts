// COPY/ADD here-documents and COPY --parents in container mode: the executor builds '/' of a fresh mount + pid
// namespace (as in container-mode-run-flags.test.ts); heredocs.test.ts and copy-parents.test.ts cover --root-dir.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { flattenImage, type FlatImage } from '../conformance/harness.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

function entry(img: FlatImage, path: string, expected: string): string {
  const e = img.entries.find((x) => x.path === path);
  assert.ok(e !== undefined, `${path} missing`);
  assert.equal(e.sha256, createHash('sha256').update(expected).digest('hex'), `${path} content, expected ${JSON.stringify(expected)}`);
  return `${e.type} ${e.mode}`;
}

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-copy-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: COPY here-documents (expanded, quoted with --chmod) and COPY --parents', { timeout: 600_000 }, async () => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const context = join(work, 'context');
  await mkdir(join(context, 'x', 'y'), { recursive: true });
  await writeFile(join(context, 'x', 'y', 'z.txt'), 'zed\n');
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${registry.host}/busybox:latest`,
    'ARG NAME=world',
    'COPY <<EOF /a.txt',
    'hello ${NAME}',
    'EOF',
    "COPY --chmod=0755 <<'EOF' /b.sh",
    '#!/bin/sh',
    'echo "b says $1"',
    'EOF',
    'COPY --parents ./x/./y/z.txt /dst/',
    'RUN /b.sh ran && cat /a.txt /dst/y/z.txt && test ! -e /dst/x && echo no-x',
    '',
  ].join('\n'));
  await cp(context, join(root, 'workspace'), { recursive: true });
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const destination = `${registry.host}/container-copy:latest`;
  const run = await runContained(script, root, ['--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull',
    '--log-format=text', '--build-arg=NAME=container']);
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  assert.match(run.stdout, /^b says ran$/m);
  assert.match(run.stdout, /^hello container$/m);
  assert.match(run.stdout, /^zed$/m);
  assert.match(run.stdout, /^no-x$/m);
  const img = await flattenImage(destination, join(work, 'flat'));
  assert.equal(entry(img, '/a.txt', 'hello container\n'), 'file 0644');
  assert.equal(entry(img, '/b.sh', '#!/bin/sh\necho "b says $1"\n'), 'file 0755');
  assert.equal(entry(img, '/dst/y/z.txt', 'zed\n'), 'file 0644');
  assert.ok(!img.entries.some((e) => e.path.startsWith('/dst/x')), 'COPY --parents keeps only what follows ./');
});
