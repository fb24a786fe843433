// Named build contexts (--build-context NAME=VALUE) through the executor with --root-dir on the busybox base:
// FROM NAME, COPY --from=NAME, RUN --mount=from=NAME of a directory, docker-image:// and oci-layout:// contexts,
// overriding a FROM image reference and a stage, and malformed values.
import assert from 'node:assert/strict';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { commitFiles, initWorkTree, publishBare, runGit, startGitServer } from '../support/git-server.ts';
import { runExecutor, type ExecutorRun } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage, skopeoConfig, skopeoInspect } from '../support/run-image.ts';

const exec = promisify(execFile);

describe('named build contexts (--build-context)', () => {
  let registry: TestRegistry;
  let work: string;
  let ctx: string;
  let base: string;
  let other: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-named-contexts-'));
    base = `${registry.host}/busybox:latest`;
    await pushBusyboxBase(base);
    // A named context directory: a file owned by someone else (it must arrive 0:0), its own .dockerignore.
    ctx = join(work, 'named');
    await mkdir(join(ctx, 'sub'), { recursive: true });
    await writeFile(join(ctx, 'hello.txt'), 'hello from the named context\n');
    await writeFile(join(ctx, 'sub', 'deep.txt'), 'deep\n');
    await writeFile(join(ctx, 'secret.log'), 'ignored by its .dockerignore\n');
    await writeFile(join(ctx, '.dockerignore'), '*.log\n');
    await chown(join(ctx, 'hello.txt'), 1234, 1234);
    // Another image, for docker-image:// and as a reference to override.
    other = `${registry.host}/named/other:1`;
    const built = await build('other', 'FROM BASE\nRUN echo other > /which\n', [], {}, other);
    assert.equal(built.code, 0, built.stderr);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string, extra: readonly string[] = [], files: Record<string, string> = {}, destination?: string): Promise<ExecutorRun> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', base));
    for (const [f, content] of Object.entries(files)) await writeFile(join(dir, f), content);
    return runExecutor([`--context=dir://${dir}`, `--destination=${destination ?? `${registry.host}/named/${name}:latest`}`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull', '--log-format=text', ...extra]);
  }
  const image = (name: string): string => `docker://${registry.host}/named/${name}:latest`;

  test('FROM NAME of a directory: one layer with its files (0:0), its own .dockerignore, not the main one', async () => {
    const dockerfile = [
      'FROM BASE AS tools',
      'FROM ctx',
      'COPY --from=tools /bin/busybox /bin/busybox',
      'CMD ["/bin/busybox", "sh", "-c", "/bin/busybox cat /hello.txt /sub/deep.txt; /bin/busybox stat -c %u:%g /hello.txt; /bin/busybox test -e /secret.log && echo leaked || echo ignored"]',
      '',
    ].join('\n');
    // The main context's .dockerignore hides hello.txt there: it must not apply to the named context.
    const run = await build('from-dir', dockerfile, [`--build-context=ctx=${ctx}`], { '.dockerignore': 'hello.txt\n' });
    assert.equal(run.code, 0, run.stderr);
    const { stdout } = await runImage(image('from-dir'));
    assert.equal(stdout, 'hello from the named context\ndeep\n0:0\nignored\n');
    const config = await skopeoConfig(image('from-dir'), ['--tls-verify=false']);
    const history = config['history'] as { created_by?: string }[];
    assert.match(history[0]?.created_by ?? '', /\[context ctx\] load from client/);
    assert.equal((config['rootfs'] as { diff_ids: string[] }).diff_ids.length, 2);
  });

  test('COPY --from=NAME and RUN --mount=type=bind,from=NAME read the directory as a build context', async () => {
    const dockerfile = [
      'FROM BASE',
      'COPY --from=CTX /hello.txt /copied.txt',
      'COPY --from=ctx /sub /sub',
      'RUN --mount=type=bind,from=ctx,target=/mnt cat /mnt/hello.txt > /mounted.txt && (test -e /mnt/secret.log && echo leaked || echo ignored) > /mnt-ignore.txt',
      'RUN stat -c %u:%g /copied.txt > /owner.txt',
      'CMD ["cat", "/copied.txt", "/sub/deep.txt", "/mounted.txt", "/mnt-ignore.txt", "/owner.txt"]',
      '',
    ].join('\n');
    const run = await build('copy-dir', dockerfile, [`--build-context=ctx=dir://${ctx}`]);
    assert.equal(run.code, 0, run.stderr);
    const { stdout } = await runImage(image('copy-dir'));
    assert.equal(stdout, 'hello from the named context\ndeep\nhello from the named context\nignored\n0:0\n');
  });

  test('a context URL (tar://): fetched once, used by FROM and COPY --from', async () => {
    const tarball = join(work, 'named.tar.gz');
    await exec('tar', ['-czf', tarball, '-C', ctx, '.']);
    const dockerfile = 'FROM BASE AS tools\nFROM t\nCOPY --from=tools /bin/busybox /bin/busybox\nCOPY --from=t /hello.txt /again.txt\nCMD ["/bin/busybox", "cat", "/hello.txt", "/again.txt"]\n';
    const run = await build('from-tar', dockerfile, [`--build-context=t=tar://${tarball}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr.match(/Loading build context t from/g)?.length, 1);
    assert.equal((await runImage(image('from-tar'))).stdout, 'hello from the named context\nhello from the named context\n');
  });

  test('--cache: COPY --from=NAME and a bind mount from=NAME are keyed by the context\'s content', async () => {
    const dir = join(work, 'cached-ctx');
    await mkdir(dir, { recursive: true });
    const cacheRepo = `--cache-repo=oci:${join(work, 'cache-layers')}`;
    const dockerfile = 'FROM BASE\nCOPY --from=c /v.txt /v.txt\nRUN --mount=type=bind,from=c,target=/m cat /m/v.txt > /m.txt\nCMD ["cat", "/v.txt", "/m.txt"]\n';
    const outputs: string[] = [];
    for (const [i, content] of ['one\n', 'one\n', 'two\n'].entries()) {
      await writeFile(join(dir, 'v.txt'), content);
      const run = await build(`cached-${i}`, dockerfile, [`--build-context=c=${dir}`, '--cache', '--cache-copy-layers', cacheRepo]);
      assert.equal(run.code, 0, run.stderr);
      outputs.push(`${(run.stderr.match(/Using caching version of cmd/g) ?? []).length} ${(await runImage(image(`cached-${i}`))).stdout}`);
    }
    assert.deepEqual(outputs, ['0 one\none\n', '2 one\none\n', '0 two\ntwo\n']);
  });

  test('a COPY --from of a named context that hides the file names the context', async () => {
    const run = await build('copy-ignored', 'FROM BASE\nCOPY --from=ctx /secret.log /x\n', [`--build-context=ctx=${ctx}`]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: \S*Dockerfile:2: COPY failed: file not found in build context "ctx" or excluded by \.dockerignore/m);
  });

  test('docker-image://: COPY --from=NAME and an overridden FROM image reference', async () => {
    const missing = `${registry.host}/named/base:1`; // never pushed: the named context stands for it
    const dockerfile = [
      `FROM ${missing}`,
      'COPY --from=img /which /copied-which',
      'CMD ["cat", "/which", "/copied-which"]',
      '',
    ].join('\n');
    const run = await build('image', dockerfile, [`--build-context=${missing}=docker-image://${other}`, `--build-context=img=docker-image://${other}`,
      '--provenance=mode=min', '--custom-platform=linux/amd64']);
    assert.equal(run.code, 0, run.stderr);
    const { stdout } = await runImage(image('image'));
    assert.equal(stdout, 'other\nother\n');
    // Provenance: the image a context stands for is a material; the contexts are BuildKit's context:NAME args.
    const index = await skopeoInspect(image('image'), ['--raw', '--tls-verify=false']);
    const att = (index['manifests'] as { digest: string; platform?: { os: string } }[]).find((d) => d.platform?.os === 'unknown');
    const manifest = await skopeoInspect(`docker://${registry.host}/named/image@${att?.digest ?? ''}`, ['--raw', '--tls-verify=false']);
    const layer = (manifest['layers'] as { digest: string }[])[0];
    const statement = await (await fetch(`http://${registry.host}/v2/named/image/blobs/${layer?.digest ?? ''}`)).json() as
      { predicate: { materials: { uri: string }[]; invocation: { parameters: { args: Record<string, string> } } } };
    assert.deepEqual(statement.predicate.materials.map((m) => m.uri), [`pkg:docker/${registry.host}/named/other@1?platform=linux%2Famd64`]);
    assert.equal(statement.predicate.invocation.parameters.args['context:img'], `docker-image://${other}`);
    assert.equal(statement.predicate.invocation.parameters.args[`context:${missing}`], `docker-image://${other}`);
  });

  test('a stage named like a named context is replaced by it: none of its instructions run', async () => {
    const dockerfile = [
      'FROM BASE AS builder',
      'RUN echo the-replaced-stage-ran',
      'FROM BASE',
      'COPY --from=builder /hello.txt /h',
      'CMD ["cat", "/h"]',
      '',
    ].join('\n');
    const run = await build('replace-stage', dockerfile, [`--build-context=builder=${ctx}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /the-replaced-stage-ran/);
    assert.equal((await runImage(image('replace-stage'))).stdout, 'hello from the named context\n');
  });

  test('oci-layout://PATH and oci-layout://PATH@DIGEST: FROM NAME and COPY --from=NAME', async () => {
    const layout = join(work, 'layout');
    const digestFile = join(work, 'layout-digest');
    const made = await build('layout-src', 'FROM BASE\nRUN echo from-layout > /which\n', ['--no-push', `--oci-layout-path=${layout}`, `--digest-file=${digestFile}`]);
    assert.equal(made.code, 0, made.stderr);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    const dockerfile = 'FROM lay\nCOPY --from=pinned /which /pinned\nCMD ["cat", "/which", "/pinned"]\n';
    const run = await build('layout', dockerfile, [`--build-context=lay=oci-layout://${layout}`, `--build-context=pinned=oci-layout://${layout}@${digest}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await runImage(image('layout'))).stdout, 'from-layout\nfrom-layout\n');
  });

  test('a git URL (https?://…/repo.git#ref:dir) is cloned as BuildKit does, not fetched as a tarball', async () => {
    const projects = join(work, 'git-projects');
    await mkdir(projects, { recursive: true });
    const wt = join(work, 'git-wt');
    await initWorkTree(wt);
    await commitFiles(wt, { 'README': 'main\n' }, 'main');
    await runGit(wt, ['checkout', '-q', '-b', 'feature']);
    await commitFiles(wt, { 'app/feature.txt': 'from the feature branch\n' }, 'feature');
    await runGit(wt, ['checkout', '-q', 'main']);
    await publishBare(wt, projects, 'ctx');
    const git = await startGitServer({ projectRoot: projects });
    try {
      const dockerfile = 'FROM BASE\nCOPY --from=src feature.txt /feature.txt\nCMD ["cat", "/feature.txt"]\n';
      const run = await build('git-url', dockerfile, [`--build-context=src=${git.url}/ctx.git#feature:app`]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await runImage(image('git-url'))).stdout, 'from the feature branch\n');
      assert.ok(git.requests.some((r) => r.includes('git-upload-pack')), 'cloned over the git protocol');
    } finally {
      await git.close();
    }
  });

  test('malformed values: one line naming --build-context, non-zero exit, nothing pushed', async () => {
    for (const [i, value] of ['novalue', '=x', `bad name=${ctx}`, 'x=docker-image://', `x=${join(work, 'missing')}`, 'x=ftp://h/x'].entries()) {
      const run = await build(`bad-${i}`, 'FROM BASE\n', [`--build-context=${value}`]);
      assert.notEqual(run.code, 0, value);
      const errors = run.stderr.split('\n').filter((l) => l.startsWith('error:'));
      assert.equal(errors.length, 1, run.stderr);
      assert.match(errors[0] ?? '', /^error: invalid --build-context "/);
      await assert.rejects(skopeoInspect(image(`bad-${i}`), ['--tls-verify=false']));
    }
    const twice = await build('bad-twice', 'FROM BASE\n', [`--build-context=alpine=${ctx}`, `--build-context=docker.io/library/alpine:latest=${ctx}`]);
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, /^error: invalid --build-context .*given twice/m);
  });
});
