// COPY and ADD here-documents (issue 13 item 7), built by bin/executor, pushed, flattened with umoci and checked
// entry by entry: names, modes, owners and contents as BuildKit's dockerfile2llb writes them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { flattenImage, type FlatImage, type FsEntry } from '../conformance/harness.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';

describe('COPY/ADD here-documents', () => {
  let registry: TestRegistry;
  let work: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-heredocs-'));
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function executor(name: string, dockerfile: string, extra: readonly string[] = []): Promise<{ code: number; stderr: string; ref: string }> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    await writeFile(join(dir, 'ctx.txt'), 'from the context\n');
    const ref = `${registry.host}/heredoc/${name}:latest`;
    const run = await runExecutor([`--context=dir://${dir}`, `--destination=${ref}`, `--root-dir=${join(work, `root-${n++}`)}`,
      '--insecure', '--log-format=text', ...extra]);
    return { ...run, ref };
  }

  async function build(name: string, dockerfile: string, extra: readonly string[] = []): Promise<FlatImage> {
    const run = await executor(name, dockerfile, extra);
    assert.equal(run.code, 0, run.stderr);
    return flattenImage(run.ref, join(work, `flat-${n++}`));
  }

  /** Asserts the file's content through its digest (the flattened tree is gone once flattenImage returns). */
  function content(img: FlatImage, path: string, expected: string): void {
    const e = img.entries.find((x) => x.path === path);
    assert.ok(e !== undefined, `${path} missing`);
    assert.equal(e.sha256, createHash('sha256').update(expected).digest('hex'), `${path} content, expected ${JSON.stringify(expected)}`);
  }

  function owner(img: FlatImage, path: string): string {
    const e: FsEntry | undefined = img.entries.find((x) => x.path === path);
    assert.ok(e !== undefined, `${path} missing`);
    return `${e.type} ${e.mode} ${e.uid}:${e.gid}`;
  }

  test('expanded, quoted, <<- and several documents, with --chmod and --chown, for COPY and ADD', async () => {
    const img = await build('all', [
      'FROM scratch',
      'ARG NAME=world',
      'ENV GREETING=hello',
      'COPY <<EOF /expanded.txt',
      '$GREETING ${NAME} "quoted" \\$NAME',
      'EOF',
      "COPY <<'EOF' /single.txt",
      '$GREETING ${NAME}',
      'EOF',
      'COPY <<"EOF" /double.txt',
      '$GREETING',
      'EOF',
      'COPY <<-EOF /tabs.txt',
      '\t\tindented $NAME',
      '\tEOF',
      'COPY --chmod=0755 --chown=1000:1001 <<a.sh <<b.txt ctx.txt /dir/',
      '#!/bin/sh',
      'echo a',
      'a.sh',
      'b',
      'b.txt',
      'ADD --chown=7:8 <<doc.tar.gz /added/',
      'not an archive: $NAME',
      'doc.tar.gz',
      'WORKDIR /w',
      'COPY <<rel.txt sub/',
      'relative',
      'rel.txt',
      '',
    ].join('\n'), ['--build-arg=NAME=builder']);
    content(img, '/expanded.txt', 'hello builder "quoted" \\$NAME\n');
    content(img, '/single.txt', '$GREETING ${NAME}\n');
    content(img, '/double.txt', '$GREETING\n');
    content(img, '/tabs.txt', 'indented builder\n');
    assert.equal(owner(img, '/expanded.txt'), 'file 0644 0:0');
    assert.equal(owner(img, '/tabs.txt'), 'file 0644 0:0');
    content(img, '/dir/a.sh', '#!/bin/sh\necho a\n');
    content(img, '/dir/b.txt', 'b\n');
    content(img, '/dir/ctx.txt', 'from the context\n');
    for (const f of ['/dir/a.sh', '/dir/b.txt', '/dir/ctx.txt']) assert.equal(owner(img, f), 'file 0755 1000:1001');
    assert.equal(owner(img, '/dir'), 'dir 0755 1000:1001');
    // ADD writes the document as a file (never extracted), as COPY does.
    content(img, '/added/doc.tar.gz', 'not an archive: builder\n');
    assert.equal(owner(img, '/added/doc.tar.gz'), 'file 0644 7:8');
    content(img, '/w/sub/rel.txt', 'relative\n');
  });

  test('the layer cache key holds the document body: a changed body or build arg is a miss', async () => {
    const cacheRepo = `${registry.host}/heredoc/cache`;
    const df = (body: string) => `FROM scratch\nARG V=1\nCOPY <<EOF /f.txt\n${body} $V\nEOF\n`;
    const flags = ['--cache=true', '--cache-copy-layers', `--cache-repo=${cacheRepo}`];
    const first = await executor('cache1', df('one'), flags);
    assert.equal(first.code, 0, first.stderr);
    const hit = await executor('cache2', df('one'), flags);
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stderr, /Using caching version of cmd/);
    const changed = await executor('cache3', df('two'), flags);
    assert.equal(changed.code, 0, changed.stderr);
    assert.doesNotMatch(changed.stderr, /Using caching version of cmd/);
    const arg = await executor('cache4', df('one'), [...flags, '--build-arg=V=2']);
    assert.equal(arg.code, 0, arg.stderr);
    assert.doesNotMatch(arg.stderr, /Using caching version of cmd/);
    const img = await build('cache5', df('two'), [...flags, '--build-arg=V=3']);
    assert.equal(owner(img, '/f.txt'), 'file 0644 0:0');
    content(img, '/f.txt', 'two 3\n');
  });

  test('an unterminated here-document is one line naming Dockerfile:line', async () => {
    const run = await executor('bad', 'FROM scratch\n\nCOPY <<EOF /x\nbody\n', ['--no-push']);
    assert.equal(run.code, 1, run.stderr);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, run.stderr);
    assert.match(errors[0] ?? '', /Dockerfile:3: .*unterminated heredoc EOF/);
    assert.doesNotMatch(run.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  });

  test('an unmatched quote in an expanded body fails as in BuildKit (quotes are lexed), naming Dockerfile:line; <<\'EOF\' builds', async () => {
    const run = await executor('quote', "FROM scratch\nCOPY <<EOF /x\ndon't\nEOF\n", ['--no-push']);
    assert.equal(run.code, 1, run.stderr);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.equal(errors.length, 1, run.stderr);
    assert.match(errors[0] ?? '', /Dockerfile:2: .*matching single-quote/);
    const ok = await executor('quote-ok', "FROM scratch\nCOPY <<'EOF' /x\ndon't\nEOF\n", ['--no-push']);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
