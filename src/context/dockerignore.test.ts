import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { BuildError } from '../errors.ts';
import { cleanGoPath, createMatcher, loadDockerignore, parseIgnoreLines } from './dockerignore.ts';

// moby/patternmatcher TestMatches, "MatchesOrParentMatches" expectations (exact/inexact ⇒ true).
const single: ReadonlyArray<readonly [string, string, boolean]> = [
  ['**', 'file', true],
  ['**', 'file/', true],
  ['**/', 'file', true],
  ['**/', 'file/', true],
  ['**', 'dir/file', true],
  ['**/', 'dir/file', true],
  ['**', 'dir/file/', true],
  ['**/**', 'dir/file', true],
  ['**/**', 'dir/file/', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/file/', true],
  ['dir/**', 'dir/dir2/file', true],
  ['dir/**', 'dir/dir2/file/', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**/dir2/**', 'dir/dir2/dir3/file/', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['*-a', 'x-a', true],
  ['subdir-*', 'subdir-1/file', true],
  ['**/*-dev', 'a/b/pkg-dev', true],
  ['**/*-dev', 'a/b/pkg-devx', false],
  ['[a-c]-[!x]', 'b-!', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['**/foo/bar', 'foo/bar', true],
  ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['a\\\\', 'a\\', true],
  ['a\\*b', 'a*b', true],
  // Matches(): a parent directory matching is enough.
  ['a*', 'ab/c', true],
  ['*', 'fileutils.go', true],
  ['*.go', 'fileutils.go', true],
];

const multi: ReadonlyArray<readonly [readonly string[], string, boolean]> = [
  [['**', '!util/docker/web'], 'util/docker/web/foo', false],
  [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
  [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['!fileutils.go', '*.go'], 'fileutils.go', true],
  [['*.go', '!fileutils.go'], 'fileutils.go', false],
  [['docs', '!docs/README.md'], 'docs/README.md', false],
  [['docs/', '!docs/README.md'], 'docs/README.md', false],
  [['docs/*', '!docs/README.md'], 'docs/README.md', false],
  [['docs', '!docs/README.md'], 'docs/other.md', true],
  [['*.go'], '.', false],
  [[], '/any/path/there', false],
];

describe('Matcher.matches (moby/patternmatcher tables)', () => {
  for (const [pattern, file, want] of single) {
    it(`${pattern} vs ${file} → ${want}`, () => {
      assert.equal(createMatcher([pattern]).matches(file), want);
    });
  }
  for (const [patterns, file, want] of multi) {
    it(`${JSON.stringify(patterns)} vs ${file} → ${want}`, () => {
      assert.equal(createMatcher(patterns).matches(file), want);
    });
  }
  it('cleans leading / and ./ on the path', () => {
    const m = createMatcher(['foo/bar']);
    assert.equal(m.matches('/foo/bar'), true);
    assert.equal(m.matches('./foo/bar'), true);
    assert.equal(m.matches('foo//bar/'), true);
  });
  it('rejects "!" alone and malformed globs, naming the file', () => {
    assert.throws(() => createMatcher(['!'], 'ctx/.dockerignore'), (e: unknown) => e instanceof BuildError && e.code === 'CONTEXT' && e.message.includes('ctx/.dockerignore'));
    assert.throws(() => createMatcher(['['], 'x'), (e: unknown) => e instanceof BuildError && /syntax error in pattern/.test(e.message));
  });
});

describe('Matcher.canSkipDir', () => {
  it('skips an excluded directory when no exception could reach inside', () => {
    const m = createMatcher(['node_modules', '*.log']);
    assert.equal(m.canSkipDir('node_modules'), true);
    assert.equal(m.canSkipDir('src'), false);
  });
  it('keeps a directory an exception points into', () => {
    const m = createMatcher(['docs', '!docs/README.md', 'build', '!*/keep', 'vendor', '!**/*.go']);
    assert.equal(m.canSkipDir('docs'), false);
    assert.equal(m.canSkipDir('build'), false);
    assert.equal(m.canSkipDir('vendor'), false);
    const n = createMatcher(['docs', 'cache', '!docs/README.md']);
    assert.equal(n.canSkipDir('cache'), true);
    assert.equal(n.canSkipDir('docs/sub'), true);
  });
});

describe('parseIgnoreLines', () => {
  it('handles comments, blanks, BOM, leading / and ./, exceptions', () => {
    const got = parseIgnoreLines(['\uFEFF# comment', '', '  /abs/path/  ', './rel', '! /x/y', ' # not a comment', 'a/../b']);
    assert.deepEqual(got, ['abs/path', 'rel', '!x/y', '# not a comment', 'b']);
  });
  it('cleanGoPath mirrors Go filepath.Clean', () => {
    assert.equal(cleanGoPath(''), '.');
    assert.equal(cleanGoPath('/'), '/');
    assert.equal(cleanGoPath('a/./b/../c/'), 'a/c');
    assert.equal(cleanGoPath('../../x'), '../../x');
    assert.equal(cleanGoPath('/../x'), '/x');
  });
});

describe('loadDockerignore', () => {
  const made: string[] = [];
  after(async () => {
    for (const d of made) await rm(d, { recursive: true, force: true });
  });
  async function tempDir(): Promise<string> {
    const d = await mkdtemp(path.join(os.tmpdir(), 'dockerignore-'));
    made.push(d);
    return d;
  }

  it('reads <context>/.dockerignore', async () => {
    const ctx = await tempDir();
    await writeFile(path.join(ctx, '.dockerignore'), '# x\n*.log\r\n!keep.log\n');
    const m = await loadDockerignore(ctx, path.join(ctx, 'Dockerfile'));
    assert.deepEqual(m.patterns, ['*.log', '!keep.log']);
    assert.equal(m.matches('a.log'), true);
    assert.equal(m.matches('keep.log'), false);
  });
  it('<Dockerfile>.dockerignore next to the Dockerfile wins', async () => {
    const ctx = await tempDir();
    await mkdir(path.join(ctx, 'build'));
    await writeFile(path.join(ctx, '.dockerignore'), 'a\n');
    await writeFile(path.join(ctx, 'build', 'app.Dockerfile.dockerignore'), 'b\n');
    const m = await loadDockerignore(ctx, 'build/app.Dockerfile');
    assert.deepEqual(m.patterns, ['b']);
  });
  it('no ignore file excludes nothing', async () => {
    const ctx = await tempDir();
    const m = await loadDockerignore(ctx, path.join(ctx, 'Dockerfile'));
    assert.equal(m.matches('anything'), false);
    assert.deepEqual(m.patterns, []);
  });
});
