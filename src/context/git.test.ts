import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { commitFiles, initWorkTree, publishBare, runGit, startGitServer, type GitServer } from '../../test/support/git-server.ts';
import { BuildError } from '../errors.ts';
import { gitContextSource, parseGitmodules, parseGitSpec, resolveRemote } from './git.ts';
import type { ContextDeps, GitContextOptions } from './source.ts';

const log = pino({ level: 'silent' });

function deps(env: Record<string, string> = {}, git: GitContextOptions = {}): ContextDeps {
  return { env: { GIT_PULL_METHOD: 'http', ...env }, stdin: Readable.from([]), git, log };
}

function contextError(...texts: string[]) {
  return (e: unknown) => e instanceof BuildError && e.code === 'CONTEXT' && texts.every((t) => e.message.includes(t));
}

describe('parseGitSpec / resolveRemote / parseGitmodules', () => {
  it('splits repo, ref and commit', () => {
    assert.deepEqual(parseGitSpec('github.com/o/r.git'), { repo: 'github.com/o/r.git' });
    assert.deepEqual(parseGitSpec('github.com/o/r.git#refs/heads/x#abc'), { repo: 'github.com/o/r.git', ref: 'refs/heads/x', commit: 'abc' });
    assert.throws(() => parseGitSpec('a#b#c#d'), BuildError);
  });
  it('GIT_TOKEN wins, then GIT_USERNAME/PASSWORD, then the URL; the URL keeps no credentials', () => {
    assert.deepEqual(resolveRemote('u:p@h/r.git', {}), { url: 'https://h/r.git', credentials: { username: 'u', password: 'p' } });
    assert.deepEqual(resolveRemote('u:p@h/r.git', { GIT_USERNAME: 'a', GIT_PASSWORD: 'b' }).credentials, { username: 'a', password: 'b' });
    assert.deepEqual(resolveRemote('u:p@h/r.git', { GIT_TOKEN: 't', GIT_USERNAME: 'a' }).credentials, { username: 't', password: '' });
    assert.equal(resolveRemote('h/r.git', { GIT_PULL_METHOD: 'http' }).url, 'http://h/r.git');
    assert.equal(resolveRemote('h/r.git', { GIT_PULL_METHOD: 'ftp' }).url, 'https://h/r.git');
  });
  it('reads .gitmodules', () => {
    assert.deepEqual(parseGitmodules('[submodule "lib"]\n\tpath = lib\n\turl = ../lib.git\n[core]\n\tx = 1\n'), [{ path: 'lib', url: '../lib.git' }]);
  });
});

describe('gitContextSource against git http-backend', () => {
  let tmp = '';
  let server: GitServer;
  let authServer: GitServer;
  let mainCommit = '';
  let firstCommit = '';
  let featureCommit = '';
  let pullCommit = '';
  let n = 0;
  const fresh = (): string => path.join(tmp, `ctx${(n += 1)}`);

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ctx-git-'));
    const projects = path.join(tmp, 'projects');
    await mkdir(projects);
    const wt = path.join(tmp, 'wt');
    await initWorkTree(wt);
    firstCommit = await commitFiles(wt, { 'README': 'first\n' }, 'first');
    mainCommit = await commitFiles(wt, { 'README': 'main\n', 'app/Dockerfile': 'FROM scratch\n' }, 'second');
    await runGit(wt, ['tag', '-a', 'v1', '-m', 'v1', firstCommit]);
    await runGit(wt, ['checkout', '-q', '-b', 'feature']);
    featureCommit = await commitFiles(wt, { 'README': 'feature\n' }, 'feature');
    await runGit(wt, ['checkout', '-q', '--detach', mainCommit]);
    pullCommit = await commitFiles(wt, { 'README': 'pull\n' }, 'pull request');
    await runGit(wt, ['checkout', '-q', 'main']);
    await publishBare(wt, projects, 'repo', { 'refs/pull/7/head': pullCommit });
    server = await startGitServer({ projectRoot: projects });
    authServer = await startGitServer({ projectRoot: projects, auth: { username: 'ci-token-123', password: '' } });
  });
  after(async () => {
    await server.close();
    await authServer.close();
    await rm(tmp, { recursive: true, force: true });
  });

  async function fetchReadme(spec: string, d: ContextDeps = deps()): Promise<string> {
    const dir = await gitContextSource(spec, d).fetch(fresh(), new AbortController().signal);
    return readFile(path.join(dir, 'README'), 'utf8');
  }

  it('clones the default branch', async () => {
    assert.equal(await fetchReadme(`${server.host}/repo.git`), 'main\n');
  });
  it('checks out a branch, a full branch ref, an annotated tag and a pull ref', async () => {
    assert.equal(await fetchReadme(`${server.host}/repo.git#feature`), 'feature\n');
    assert.equal(await fetchReadme(`${server.host}/repo.git#refs/heads/feature`), 'feature\n');
    assert.equal(await fetchReadme(`${server.host}/repo.git#refs/tags/v1`), 'first\n');
    assert.equal(await fetchReadme(`${server.host}/repo.git#refs/pull/7/head`), 'pull\n');
  });
  it('checks out a commit id, and #ref#commit', async () => {
    assert.equal(await fetchReadme(`${server.host}/repo.git#${featureCommit}`), 'feature\n');
    assert.equal(await fetchReadme(`${server.host}/repo.git#refs/heads/main#${firstCommit}`), 'first\n');
    assert.equal(await fetchReadme(`${server.host}/repo.git#main#${firstCommit.slice(0, 10)}`), 'first\n');
  });
  it('--git branch= overrides #ref; single-branch and depth work', async () => {
    assert.equal(await fetchReadme(`${server.host}/repo.git#main`, deps({}, { branch: 'feature', singleBranch: true, depth: 1 })), 'feature\n');
    assert.equal(await fetchReadme(`${server.host}/repo.git`, deps({}, { branch: 'v1' })), 'first\n');
    await assert.rejects(fetchReadme(`${server.host}/repo.git`, deps({}, { branch: 'nope' })), contextError('"nope"', 'not found'));
  });
  it('a missing branch names it and the URL', async () => {
    await assert.rejects(fetchReadme(`${server.host}/repo.git#no-such-branch`), contextError('no-such-branch', 'not found', `${server.url}/repo.git`));
  });
  it('a missing repository is one clear error', async () => {
    await assert.rejects(fetchReadme(`${server.host}/nothing.git`), contextError(`${server.url}/nothing.git`));
  });
  it('authenticates with GIT_TOKEN and keeps it out of .git/config', async () => {
    const dir = await gitContextSource(`${authServer.host}/repo.git#feature`, deps({ GIT_TOKEN: 'ci-token-123' })).fetch(fresh(), new AbortController().signal);
    assert.equal(await readFile(path.join(dir, 'README'), 'utf8'), 'feature\n');
    assert.doesNotMatch(await readFile(path.join(dir, '.git', 'config'), 'utf8'), /ci-token-123/);
  });
  it('credentials in the URL work and are never in .git/config', async () => {
    const dir = await gitContextSource(`ci-token-123@${authServer.host}/repo.git`, deps()).fetch(fresh(), new AbortController().signal);
    assert.doesNotMatch(await readFile(path.join(dir, '.git', 'config'), 'utf8'), /ci-token-123/);
  });
  it('bad or missing credentials fail without echoing them', async () => {
    await assert.rejects(fetchReadme(`${authServer.host}/repo.git`, deps({ GIT_USERNAME: 'bob', GIT_PASSWORD: 'hunter2-secret' })),
      (e: unknown) => contextError('authentication failed', 'refused')(e) && !(e as Error).message.includes('hunter2'));
    await assert.rejects(fetchReadme(`wrong:pw-secret@${authServer.host}/repo.git`),
      (e: unknown) => contextError('authentication failed')(e) && !(e as Error).message.includes('pw-secret'));
    await assert.rejects(fetchReadme(`${authServer.host}/repo.git`), contextError('authentication failed', 'needs credentials'));
  });
  it('checks out submodules when asked', async () => {
    const projects = path.join(tmp, 'projects');
    const libWt = path.join(tmp, 'lib-wt');
    await initWorkTree(libWt);
    await commitFiles(libWt, { 'lib.txt': 'library\n' }, 'lib');
    await publishBare(libWt, projects, 'lib');
    const superWt = path.join(tmp, 'super-wt');
    await initWorkTree(superWt);
    await commitFiles(superWt, { 'top.txt': 'top\n' }, 'top');
    await runGit(superWt, ['-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', path.join(projects, 'lib.git'), 'vendor/lib']);
    // Point the recorded URL at the served copy, relative as real projects often do.
    await runGit(superWt, ['config', '-f', '.gitmodules', 'submodule.vendor/lib.url', '../lib.git']);
    await commitFiles(superWt, {}, 'add submodule');
    await publishBare(superWt, projects, 'super');
    const without = await gitContextSource(`${server.host}/super.git`, deps()).fetch(fresh(), new AbortController().signal);
    await assert.rejects(readFile(path.join(without, 'vendor/lib/lib.txt')));
    const withSubs = await gitContextSource(`${server.host}/super.git`, deps({}, { recurseSubmodules: true })).fetch(fresh(), new AbortController().signal);
    assert.equal(await readFile(path.join(withSubs, 'vendor/lib/lib.txt'), 'utf8'), 'library\n');
  });
  it('main commit is what HEAD clones', () => {
    assert.match(mainCommit, /^[0-9a-f]{40}$/);
  });
});
