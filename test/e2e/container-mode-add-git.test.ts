// ADD of a git repository (http, isomorphic-git) in container mode: the executor builds '/' of a fresh mount + pid
// namespace (as in container-mode.test.ts); `git http-backend` on the host's loopback serves the repository.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { commitFiles, initWorkTree, publishBare, startGitServer, type GitServer } from '../support/git-server.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

let registry: TestRegistry;
let git: GitServer;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-add-git-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
  const projects = join(work, 'projects');
  await mkdir(projects);
  const wt = join(work, 'wt');
  await initWorkTree(wt);
  await commitFiles(wt, { README: 'contained\n', 'docs/a.txt': 'a\n' }, 'one');
  await publishBare(wt, projects, 'repo');
  git = await startGitServer({ projectRoot: projects });
});
after(async () => {
  await git?.close();
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: ADD https-style git URL#REF:SUBDIR; the scratch checkout leaves nothing behind', { timeout: 600_000 }, async () => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${registry.host}/busybox:latest`,
    `ADD ${git.url}/repo.git#main /src`,
    `ADD ${git.url}/repo.git#main:docs /docs`,
    'RUN echo "got: $(cat /src/README) $(ls /docs) $(test -e /src/.git || echo no-git) $(ls /tmp | wc -l)"',
    '',
  ].join('\n'));
  await cp(context, join(root, 'workspace'), { recursive: true });
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const run = await runContained(script, root, ['--context=dir:///workspace', `--destination=${registry.host}/container-add-git:latest`,
    '--insecure', '--insecure-pull', '--log-format=text']);
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  assert.match(run.stdout, /^got: contained a.txt no-git 0$/m);
  assert.deepEqual(await readdir(join(root, 'dev')), []);
});
