// Issue 4 (part 1), end to end with bin/executor: contexts from tar:// (gzip, zstd, plain), tar://stdin,
// an HTTP tarball, git (branch, tag, commit, sub-path, token auth) and a remote Dockerfile each build a
// `FROM scratch` image whose layer holds the context files. Failures give one `error:` line naming the
// source, exit 1, and never a credential.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { readDockerTarball } from '../../src/archive/docker-tarball.ts';
import { runExecutor, type ExecutorRun } from '../support/executor-process.ts';
import { commitFiles, initWorkTree, publishBare, runGit, startGitServer, type GitServer } from '../support/git-server.ts';
import { startStaticServer, type StaticServer } from '../support/static-server.ts';

type Entry = Partial<Header> & { name: string; body?: string };

async function makeTar(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
  const done = new Promise<void>((resolve, reject) => { pack.on('end', resolve); pack.on('error', reject); });
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => { pack.entry(header, body ?? '', (err) => (err ? reject(err) : resolve())); });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Files (path → content) of every layer of the image in a docker tarball, later layers winning. */
async function imageFiles(tarPath: string): Promise<Map<string, string>> {
  const image = await readDockerTarball(tarPath);
  const files = new Map<string, string>();
  for (const layer of await image.layers()) {
    const extract = tarStream.extract();
    (await layer.uncompressed()).pipe(extract);
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      if (entry.header.type === 'file') files.set(entry.header.name.replace(/^\.?\//, ''), Buffer.concat(parts).toString());
    }
  }
  return files;
}

function assertOneLineError(run: ExecutorRun, ...patterns: RegExp[]): string {
  assert.equal(run.code, 1, run.stderr);
  const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, run.stderr);
  for (const p of patterns) assert.match(errors[0] ?? '', p);
  assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  return errors[0] ?? '';
}

const dockerfile = 'FROM scratch\nCOPY . /ctx/\n';
const contextEntries: Entry[] = [
  { name: 'Dockerfile', body: dockerfile },
  { name: 'hello.txt', body: 'hello from a tarball\n' },
  { name: 'sub/', type: 'directory', mode: 0o755 },
  { name: 'sub/nested.txt', body: 'nested\n' },
];

describe('build context sources', () => {
  let work = '';
  let web: StaticServer;
  let gitServer: GitServer;
  let authGit: GitServer;
  let plainTar: Buffer;
  let firstCommit = '';
  let n = 0;
  const secretToken = 'tok-e2e-s3cr3t';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'e2e-ctx-'));
    plainTar = await makeTar(contextEntries);
    await writeFile(join(work, 'ctx.tar.gz'), gzipSync(plainTar));
    await writeFile(join(work, 'ctx.tar.zst'), zstdCompressSync(plainTar));
    await writeFile(join(work, 'ctx.tar'), plainTar);
    const corrupt = gzipSync(plainTar);
    corrupt.fill(0x5a, 20, 60);
    await writeFile(join(work, 'corrupt.tar.gz'), corrupt);
    await writeFile(join(work, 'evil.tar.gz'), gzipSync(await makeTar([...contextEntries, { name: '../../escaped.txt', body: 'x' }])));
    web = await startStaticServer({
      '/ctx.tar.gz': gzipSync(plainTar),
      '/Dockerfile.remote': 'FROM scratch\nCOPY hello.txt /remote/\n',
    });

    const projects = join(work, 'projects');
    await mkdir(projects);
    const wt = join(work, 'wt');
    await initWorkTree(wt);
    firstCommit = await commitFiles(wt, { 'Dockerfile': dockerfile, 'version.txt': 'one\n' }, 'one');
    await commitFiles(wt, { 'version.txt': 'two\n', 'app/Dockerfile': 'FROM scratch\nCOPY app.txt /app/\n', 'app/app.txt': 'app\n' }, 'two');
    await runGit(wt, ['tag', 'v1', firstCommit]);
    await runGit(wt, ['checkout', '-q', '-b', 'feature']);
    await commitFiles(wt, { 'version.txt': 'feature\n' }, 'feature');
    await runGit(wt, ['checkout', '-q', 'main']);
    await publishBare(wt, projects, 'repo');
    gitServer = await startGitServer({ projectRoot: projects });
    authGit = await startGitServer({ projectRoot: projects, auth: { username: secretToken, password: '' } });
  });
  after(async () => {
    await web?.close();
    await gitServer?.close();
    await authGit?.close();
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  async function build(args: readonly string[], opts: { env?: Record<string, string>; input?: Buffer } = {}): Promise<{ run: ExecutorRun; tar: string }> {
    n += 1;
    const tar = join(work, `image${n}.tar`);
    const run = await runExecutor([...args, `--root-dir=${join(work, `root${n}`)}`, '--no-push', `--tar-path=${tar}`, '--log-format=text'],
      { env: { GIT_PULL_METHOD: 'http', ...opts.env }, ...(opts.input !== undefined ? { input: opts.input } : {}) });
    return { run, tar };
  }

  for (const file of ['ctx.tar.gz', 'ctx.tar.zst', 'ctx.tar']) {
    test(`tar://${file}`, async () => {
      const { run, tar } = await build([`--context=tar://${join(work, file)}`]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /4 entries/);
      const files = await imageFiles(tar);
      assert.equal(files.get('ctx/hello.txt'), 'hello from a tarball\n');
      assert.equal(files.get('ctx/sub/nested.txt'), 'nested\n');
    });
  }

  test('tar://stdin', async () => {
    const { run, tar } = await build(['--context=tar://stdin'], { input: gzipSync(plainTar) });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await imageFiles(tar)).get('ctx/hello.txt'), 'hello from a tarball\n');
  });

  test('an HTTP tarball, and a remote Dockerfile', async () => {
    const { run, tar } = await build([`--context=${web.url}/ctx.tar.gz`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await imageFiles(tar)).get('ctx/sub/nested.txt'), 'nested\n');
    const remote = await build([`--context=tar://${join(work, 'ctx.tar.gz')}`, `--dockerfile=${web.url}/Dockerfile.remote`]);
    assert.equal(remote.run.code, 0, remote.run.stderr);
    assert.equal((await imageFiles(remote.tar)).get('remote/hello.txt'), 'hello from a tarball\n');
  });

  test('git: default branch, branch, tag, commit', async () => {
    for (const [suffix, want] of [['', 'two\n'], ['#refs/heads/feature', 'feature\n'], ['#refs/tags/v1', 'one\n'], [`#${firstCommit}`, 'one\n']] as const) {
      const { run, tar } = await build([`--context=git://${gitServer.host}/repo.git${suffix}`]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await imageFiles(tar)).get('ctx/version.txt'), want, suffix);
    }
  });

  test('git: --context-sub-path and --git branch=', async () => {
    const { run, tar } = await build([`--context=git://${gitServer.host}/repo.git`, '--context-sub-path=app', '--git=branch=main']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await imageFiles(tar)).get('app/app.txt'), 'app\n');
  });

  test('git: token auth, never logged', async () => {
    const { run, tar } = await build([`--context=git://${authGit.host}/repo.git#refs/heads/feature`], { env: { GIT_TOKEN: secretToken } });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await imageFiles(tar)).get('ctx/version.txt'), 'feature\n');
    assert.doesNotMatch(run.stderr + run.stdout, new RegExp(secretToken));
  });

  test('failure: a missing branch', async () => {
    const { run } = await build([`--context=git://${gitServer.host}/repo.git#refs/heads/nope`]);
    assertOneLineError(run, /refs\/heads\/nope/, /not found/, new RegExp(`${gitServer.url}/repo\\.git`));
  });

  test('failure: bad git credentials, in the URL or the environment, never echoed', async () => {
    const inUrl = await build([`--context=git://oops:hunter2-pw@${authGit.host}/repo.git`]);
    assertOneLineError(inUrl.run, /authentication failed/, new RegExp(`${authGit.url}/repo\\.git`));
    assert.doesNotMatch(inUrl.run.stderr + inUrl.run.stdout, /hunter2-pw/);
    const inEnv = await build([`--context=git://${authGit.host}/repo.git`], { env: { GIT_USERNAME: 'bob', GIT_PASSWORD: 'pa55-secret' } });
    assertOneLineError(inEnv.run, /authentication failed/);
    assert.doesNotMatch(inEnv.run.stderr + inEnv.run.stdout, /pa55-secret/);
  });

  test('failure: a corrupt gzip', async () => {
    const { run } = await build([`--context=tar://${join(work, 'corrupt.tar.gz')}`]);
    assertOneLineError(run, /corrupt\.tar\.gz/, /corrupt gzip/);
  });

  test('failure: a ../ tar entry, nothing written outside', async () => {
    const { run } = await build([`--context=tar://${join(work, 'evil.tar.gz')}`]);
    assertOneLineError(run, /evil\.tar\.gz/, /"\.\.\/\.\.\/escaped\.txt" would leave the context directory/);
    await assert.rejects(import('node:fs/promises').then((fs) => fs.access(join(work, 'escaped.txt'))));
  });

  test('failure: a 404 URL, credentials redacted', async () => {
    const { run } = await build([`--context=http://user:zz-secret@${web.url.slice('http://'.length)}/missing.tar.gz`]);
    assertOneLineError(run, /HTTP 404/, /missing\.tar\.gz/);
    assert.doesNotMatch(run.stderr + run.stdout, /zz-secret/);
    const df = await build([`--context=tar://${join(work, 'ctx.tar.gz')}`, `--dockerfile=${web.url}/nope/Dockerfile`]);
    assertOneLineError(df.run, /Dockerfile/, /HTTP 404/);
  });

  test('failure: a missing --context-sub-path', async () => {
    const { run } = await build([`--context=tar://${join(work, 'ctx.tar.gz')}`, '--context-sub-path=not/there']);
    assertOneLineError(run, /--context-sub-path "not\/there" does not exist/);
  });

  test('failure: an unknown --git key', async () => {
    const { run } = await build([`--context=git://${gitServer.host}/repo.git`, '--git=colour=blue']);
    assertOneLineError(run, /--git key "colour"/);
  });
});
