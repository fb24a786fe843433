import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UsageError } from '../errors.ts';
import { contextIgnore, contextKey, findNamedContext, localContextDirs, namedContexts, parseBuildContexts } from './named-contexts.ts';
import type { ContextDeps } from '../context/source.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'named-contexts-'));
  await mkdir(join(dir, 'ctx'));
  await mkdir(join(dir, 'layout'));
  await writeFile(join(dir, 'file'), 'x');
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

const deps = { env: {}, stdin: process.stdin, git: {}, log: { info() {}, warn() {}, debug() {}, error() {}, child() { return this; } } } as unknown as ContextDeps;

test('names normalise as BuildKit: familiar form, :latest dropped, plain names lower-cased', () => {
  assert.equal(contextKey('alpine'), 'alpine');
  assert.equal(contextKey('alpine:latest'), 'alpine');
  assert.equal(contextKey('docker.io/library/alpine:latest'), 'alpine');
  assert.equal(contextKey('index.docker.io/library/alpine'), 'alpine');
  assert.equal(contextKey('alpine:3.19'), 'alpine:3.19');
  assert.equal(contextKey('docker.io/alpine:3.19'), 'alpine:3.19');
  assert.equal(contextKey('user/app'), 'user/app');
  assert.equal(contextKey('127.0.0.1:5000/base:1'), '127.0.0.1:5000/base:1');
  assert.equal(contextKey('127.0.0.1:5000/base'), '127.0.0.1:5000/base');
  assert.equal(contextKey('Builder'), 'builder');
  assert.equal(contextKey('base:V1'), 'base:V1');
  const d = `sha256:${'a'.repeat(64)}`;
  assert.equal(contextKey(`alpine@${d}`), `alpine@${d}`);
  assert.equal(contextKey(`alpine:latest@${d}`), `alpine:latest@${d}`);
  assert.equal(contextKey('bad name'), undefined);
  assert.equal(contextKey('a..b'), undefined);
});

test('values: a directory, dir://, URLs, docker-image://, oci-layout:// with tag or digest', () => {
  const d = `sha256:${'b'.repeat(64)}`;
  const m = parseBuildContexts([
    'ctx=ctx', 'two=dir://ctx', 'remote=https://example.com/c.tar.gz', 'git=git://example.com/r.git#main', 's3=s3://bucket/key',
    'docker.io/library/alpine:latest=docker-image://127.0.0.1:5000/alpine:3', 'lay=oci-layout://layout:v2', 'lay2=oci-layout://layout@' + d, 'lay3=oci-layout://layout',
  ], dir);
  assert.deepEqual(m.get('ctx')?.source, { kind: 'dir', spec: join(dir, 'ctx'), local: true });
  assert.deepEqual(m.get('two')?.source, { kind: 'dir', spec: join(dir, 'ctx'), local: true });
  assert.deepEqual(m.get('remote')?.source, { kind: 'dir', spec: 'https://example.com/c.tar.gz', local: false });
  assert.equal(m.get('git')?.source.kind, 'dir');
  assert.deepEqual(m.get('alpine')?.source, { kind: 'image', ref: '127.0.0.1:5000/alpine:3' });
  assert.deepEqual(m.get('lay')?.source, { kind: 'oci-layout', dir: join(dir, 'layout'), tag: 'v2' });
  assert.deepEqual(m.get('lay2')?.source, { kind: 'oci-layout', dir: join(dir, 'layout'), tag: 'latest', digest: d });
  assert.deepEqual(m.get('lay3')?.source, { kind: 'oci-layout', dir: join(dir, 'layout'), tag: 'latest' });
  const all = namedContexts(m, { fetchDir: join(dir, 'fetch'), source: deps });
  assert.equal(findNamedContext(all, 'ALPINE:latest')?.name, 'alpine');
  assert.equal(findNamedContext(all, 'index.docker.io/library/alpine')?.name, 'alpine');
  assert.equal(findNamedContext(all, 'alpine:3'), undefined);
  assert.equal(findNamedContext(all, 'CTX')?.name, 'ctx');
  assert.equal(findNamedContext(all, 'scratch'), undefined);
  assert.deepEqual(localContextDirs(all), [join(dir, 'ctx'), join(dir, 'ctx')]);
});

test('a number is a stage index and scratch is never a named context', () => {
  const all = namedContexts(parseBuildContexts(['0=ctx', 'scratch=ctx'], dir), { fetchDir: dir, source: deps });
  assert.equal(findNamedContext(all, '0'), undefined);
  assert.equal(findNamedContext(all, 'scratch'), undefined);
});

test('malformed values are one UsageError line naming --build-context', () => {
  const cases: [string, RegExp][] = [
    ['novalue', /expected NAME=VALUE/],
    ['=ctx', /the name is empty/],
    ['name=', /the value is empty/],
    ['bad name=ctx', /not a valid context name/],
    ['x=docker-image://', /needs an image reference/],
    ['x=docker-image://UPPER/Case', /invalid image reference/],
    ['x=oci-layout://', /needs a directory/],
    ['x=oci-layout://layout@sha256:zz', /not a sha256 digest/],
    ['x=oci-layout://layout:', /tag after ":" is empty/],
    ['x=oci-layout://missing', /does not exist/],
    ['x=ftp://host/x', /unknown source ftp:\/\//],
    ['x=tar://stdin', /standard input is for --context only/],
    ['x=missing-dir', /does not exist/],
    ['x=file', /is not a directory/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseBuildContexts([value], dir), (err: unknown) => {
      assert.ok(err instanceof UsageError, value);
      assert.match(err.message, /^invalid --build-context "/);
      assert.match(err.message, message, value);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  }
  assert.throws(() => parseBuildContexts(['alpine=ctx', 'docker.io/library/alpine=ctx'], dir), /the name "alpine" is given twice/);
  assert.throws(() => parseBuildContexts(['x=https://user:secret@example.com/c.tar.gz', 'x=ctx'], dir), (err: unknown) => {
    assert.doesNotMatch((err as Error).message, /secret/);
    return true;
  });
});

test("a named context's own .dockerignore", async () => {
  assert.equal(await contextIgnore(join(dir, 'ctx')), undefined);
  await writeFile(join(dir, 'ctx', '.dockerignore'), '*.log\n!keep.log\n');
  const m = await contextIgnore(join(dir, 'ctx'));
  assert.equal(m?.matches('a.log'), true);
  assert.equal(m?.matches('keep.log'), false);
});
