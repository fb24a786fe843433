// ADD of a git repository through the executor with --root-dir: http(s) against `git http-backend` (refs, tags,
// commits, SUBDIR, --keep-git-dir, --checksum, token auth), git:// against `git daemon`, and ssh (git@host:repo)
// with the system git whose ssh command is a local shim that checks the --ssh agent and runs git-upload-pack.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { contextBuilds } from '../support/executor-process.ts';
import { commitFiles, initWorkTree, publishBare, runGit, startGitServer, type GitServer } from '../support/git-server.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('ADD of a git repository', () => {
  let registry: TestRegistry;
  let work: string;
  let projects: string;
  let git: GitServer;
  let authGit: GitServer;
  let tokenGit: GitServer;
  let daemon: ChildProcess | undefined;
  let daemonPort = 0;
  let first = '';
  let main = '';
  let feature = '';
  const token = `tok-${process.pid}-secret`;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-add-git-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
    projects = join(work, 'projects');
    await mkdir(projects);
    const wt = join(work, 'wt');
    await initWorkTree(wt);
    first = await commitFiles(wt, { README: 'first\n' }, 'first');
    await runGit(wt, ['tag', '-a', 'v1', '-m', 'v1', first]);
    await writeFile(join(wt, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(wt, 'run.sh'), 0o755);
    main = await commitFiles(wt, { README: 'main\n', 'app/hello.txt': 'hello\n' }, 'second');
    await runGit(wt, ['checkout', '-q', '-b', 'feature']);
    feature = await commitFiles(wt, { 'app/feature.txt': 'feature\n' }, 'feature');
    await runGit(wt, ['checkout', '-q', 'main']);
    await publishBare(wt, projects, 'repo');
    git = await startGitServer({ projectRoot: projects });
    authGit = await startGitServer({ projectRoot: projects, auth: { username: token, password: '' } });
    tokenGit = await startGitServer({ projectRoot: projects, auth: { username: 'x-access-token', password: token } });
    daemonPort = await freePort();
    daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${projects}`, '--listen=127.0.0.1', `--port=${daemonPort}`, projects], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('git', ['ls-remote', `git://127.0.0.1:${daemonPort}/repo.git`], { stdio: 'ignore' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });
  after(async () => {
    daemon?.kill();
    await git?.close();
    await authGit?.close();
    await tokenGit?.close();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  const build = contextBuilds({ work: () => work, registryHost: () => registry.host, repo: 'git', base: () => `${registry.host}/busybox:latest` });

  test('http(s): HEAD, tag, branch:SUBDIR, commit, --keep-git-dir, --checksum, --chown', async () => {
    const repo = `${git.url}/repo.git`;
    const run = await build('http', [
      'FROM BASE',
      `ADD ${repo} /src`,
      `ADD ${repo}#v1 /v1`,
      `ADD --chown=65534:65534 ${repo}#feature:app /app`,
      `ADD ${repo}#${first} /c1`,
      `ADD --keep-git-dir=true ${repo}#main /kept`,
      `ADD --checksum=${main} ${repo}#main /ck`,
      'RUN echo "src: $(cat /src/README) $(stat -c %a /src/run.sh) $(test -e /src/.git || echo no-git)" && echo "v1: $(ls /v1)"'
        + ' && echo "app: $(ls /app | tr \'\\n\' \' \')$(stat -c %u:%g /app/feature.txt)" && echo "c1: $(cat /c1/README)"'
        + ' && echo "kept: $(test -d /kept/.git && cat /kept/.git/HEAD)" && echo "ck: $(cat /ck/app/hello.txt)"',
      '',
    ].join('\n'));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^src: main 755 no-git$/m);
    assert.match(run.stdout, /^v1: README$/m);
    assert.match(run.stdout, /^app: feature.txt hello.txt 65534:65534$/m);
    assert.match(run.stdout, /^c1: first$/m);
    assert.match(run.stdout, /^kept: (ref: refs\/heads\/main|[0-9a-f]{40})$/m);
    assert.match(run.stdout, /^ck: hello$/m);
    assert.match(run.stderr + run.stdout, new RegExp(`Checked out ${git.url}/repo.git at ${feature}`));
  });

  test('--checksum mismatch and a missing ref fail with one line; nothing is pushed', async () => {
    const repo = `${git.url}/repo.git`;
    for (const [name, line, re] of [
      ['ck-bad', `ADD --checksum=${first} ${repo}#main /x`, new RegExp(`^error: .*Dockerfile:2: .*checksum mismatch for ${repo}#main: expected commit ${first}, got ${main}$`, 'm')],
      ['ref-bad', `ADD ${repo}#nope /x`, /^error: .*Dockerfile:2: .*ref "nope" not found/m],
      ['ck-form', `ADD --checksum=sha256:${'a'.repeat(64)} ${repo} /x`, /^error: .*Dockerfile:2: .*expected a commit id/m],
    ] as const) {
      const run = await build(name, `FROM BASE\n${line}\n`);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, re, run.stderr);
      assert.equal(run.stderr.split('\n').filter((l) => l.startsWith('error:')).length, 1, run.stderr);
      const res = await fetch(`http://${registry.host}/v2/git/${name}/manifests/latest`);
      assert.equal(res.status, 404, 'nothing pushed');
    }
  });

  test('http(s) auth: GIT_TOKEN as for git contexts, or the GIT_AUTH_TOKEN secret; never logged', async () => {
    const run = await build('auth', `FROM BASE\nADD ${authGit.url}/repo.git#feature /r\nRUN cat /r/app/feature.txt\n`, ['--verbosity=trace'], { env: { GIT_TOKEN: token } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^feature$/m);
    assert.ok(!run.stdout.includes(token) && !run.stderr.includes(token), 'the token is in no log line');
    // BuildKit's way: a --secret named GIT_AUTH_TOKEN.<host> (or GIT_AUTH_TOKEN), sent as x-access-token:<token>.
    const tokenFile = join(work, 'git-token');
    await writeFile(tokenFile, `${token}\n`);
    const viaSecret = await build('auth-secret', `FROM BASE\nADD ${tokenGit.url}/repo.git#feature /r\nRUN cat /r/app/feature.txt\n`,
      ['--verbosity=trace', `--secret=id=GIT_AUTH_TOKEN.${tokenGit.host},src=${tokenFile}`]);
    assert.equal(viaSecret.code, 0, viaSecret.stderr);
    assert.match(viaSecret.stdout, /^feature$/m);
    assert.ok(!viaSecret.stdout.includes(token) && !viaSecret.stderr.includes(token), 'the token is in no log line');
    const without = await build('noauth', `FROM BASE\nADD ${authGit.url}/repo.git /r\n`);
    assert.notEqual(without.code, 0);
    assert.match(without.stderr, /^error: .*authentication failed/m);
  });

  test('--cache: a git source is keyed by the commit its ref names (a moved branch misses)', async () => {
    const df = `FROM BASE\nADD ${git.url}/repo.git#cached /r\nRUN cat /r/README\n`;
    const wt = join(work, 'wt');
    await runGit(wt, ['checkout', '-q', '-b', 'cached']);
    await commitFiles(wt, { README: 'cached-1\n' }, 'c1');
    await runGit(wt, ['push', '-q', join(projects, 'repo.git'), 'cached']);
    const flags = ['--cache=true', `--cache-repo=${registry.host}/git/cache`, '--cache-copy-layers'];
    const hits = (out: string): number => out.split('Using caching version of cmd').length - 1;
    const one = await build('cached', df, flags);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(hits(one.stderr + one.stdout), 0);
    const two = await build('cached', df, flags);
    assert.equal(two.code, 0, two.stderr);
    assert.ok(hits(two.stderr + two.stdout) >= 1, 'the second build hits');
    await commitFiles(wt, { README: 'cached-2\n' }, 'c2');
    await runGit(wt, ['push', '-q', join(projects, 'repo.git'), 'cached']);
    await runGit(wt, ['checkout', '-q', 'main']);
    const three = await build('cached', df, flags);
    assert.equal(three.code, 0, three.stderr);
    assert.match(three.stdout, /^cached-2$/m, 'the moved branch is fetched again');
  });

  test('git:// with the system git; git@host:repo through the --ssh agent', async () => {
    const log = join(work, 'ssh-shim.log');
    const shim = join(work, 'ssh-shim');
    // Stands in for ssh: records what the agent holds, then serves the repository as sshd would run git-upload-pack.
    await writeFile(shim, `#!/bin/sh\nssh-add -l > ${log} 2>&1 || echo "no agent: $SSH_AUTH_SOCK" >> ${log}\nfor last; do :; done\ncd ${projects} && exec sh -c "$last"\n`);
    await chmod(shim, 0o755);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'add-git-key', '-f', join(work, 'key')]);
    const run = await build('gitproto', [
      'FROM BASE',
      `ADD git://127.0.0.1:${daemonPort}/repo.git#v1 /g`,
      'ADD git@example.invalid:repo.git#feature:app /s',
      'RUN echo "g: $(cat /g/README) s: $(ls /s | tr \'\\n\' \' \')"',
      '',
    ].join('\n'), [`--ssh=default=${join(work, 'key')}`], { env: { GIT_SSH_COMMAND: shim } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^g: first s: feature.txt hello.txt $/m);
    assert.match(await readFile(log, 'utf8'), /add-git-key \(ED25519\)/);
    const noAgent = await build('noagent', 'FROM BASE\nADD git@example.invalid:repo.git /s\n', [], { env: { GIT_SSH_COMMAND: shim } });
    assert.notEqual(noAgent.code, 0);
    assert.match(noAgent.stderr, /^error: .*an ssh git source needs an SSH agent: give --ssh default/m);
  });
});
