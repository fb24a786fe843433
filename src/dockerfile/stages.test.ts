import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from './parse.ts';
import { resolveStages } from './stages.ts';
import { formatPlatform, platformArgs, predefinedArgs, predefinedArgValues, resolveMetaArgs, resolveStageArg, unusedBuildArgs } from './args.ts';
import { BuildError, DockerfileError } from '../errors.ts';

const linuxAmd64 = { os: 'linux', architecture: 'amd64' };
const linuxArm = { os: 'linux', architecture: 'arm', variant: 'v7' };
const noArgs = new Map<string, string>();

test('predefined and platform args', () => {
  for (const n of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']) {
    assert.ok(predefinedArgs.has(n), n);
  }
  assert.deepEqual(Object.fromEntries(platformArgs(linuxArm, linuxAmd64)), {
    TARGETPLATFORM: 'linux/arm/v7', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7',
    BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '',
  });
  assert.equal(formatPlatform(linuxAmd64), 'linux/amd64');
  assert.deepEqual(Object.fromEntries(predefinedArgValues(new Map([['HTTP_PROXY', 'p'], ['X', 'y']]))), { HTTP_PROXY: 'p' });
  assert.deepEqual(unusedBuildArgs(new Map([['A', '1'], ['B', '2'], ['http_proxy', 'p']]), ['A']), ['B']);
});

test('resolveMetaArgs: defaults expand against earlier ones; --build-arg overrides', () => {
  const df = parseDockerfile('ARG A=1\nARG B=${A}-x C\nARG D=$TARGETARCH\nFROM x\n', 'Dockerfile');
  const auto = platformArgs(linuxAmd64, linuxAmd64);
  const m = resolveMetaArgs(df.metaArgs, noArgs, auto);
  assert.equal(m.get('A'), '1');
  assert.equal(m.get('B'), '1-x');
  assert.equal(m.has('C'), false);
  assert.equal(m.get('D'), 'amd64');
  const o = resolveMetaArgs(df.metaArgs, new Map([['A', '9'], ['C', 'c']]), auto);
  assert.equal(o.get('B'), '9-x');
  assert.equal(o.get('C'), 'c');
  const q = resolveMetaArgs(parseDockerfile('ARG Q="a b"\nFROM x\n', 'f').metaArgs, noArgs, auto);
  assert.equal(q.get('Q'), 'a b');
});

test('resolveStageArg: scoping rules', () => {
  const metaArgs = new Map([['V', 'global']]);
  const env = new Map([['E', 'env']]);
  const ctx = { buildArgs: noArgs, metaArgs, env };
  // Re-declared without default: inherits the global value.
  assert.equal(resolveStageArg({ name: 'V' }, ctx), 'global');
  // With a default: the default, expanded.
  assert.equal(resolveStageArg({ name: 'V', defaultValue: '${E}-d' }, ctx), 'env-d');
  // Unknown, no default: unset.
  assert.equal(resolveStageArg({ name: 'W' }, ctx), undefined);
  // --build-arg wins over default and global.
  const b = { ...ctx, buildArgs: new Map([['V', 'cli']]) };
  assert.equal(resolveStageArg({ name: 'V', defaultValue: 'd' }, b), 'cli');
  assert.equal(resolveStageArg({ name: 'V' }, b), 'cli');
});

const multi = [
  'ARG IMG=alpine', // 1
  'ARG TAG', // 2
  'FROM ${IMG}:${TAG:-3.19} AS Base', // 3
  'RUN true', // 4
  'FROM base AS build', // 5
  'ARG SRC=base', // 6
  'COPY --from=$SRC /a /a', // 7
  'FROM busybox AS unused', // 8
  'FROM scratch AS final', // 9
  'COPY --from=build /a /', // 10
  'COPY --from=0 /b /', // 11
  'COPY --from=nginx:latest /etc/nginx /n', // 12
  'FROM --platform=$BUILDPLATFORM golang AS tools', // 13
  'RUN --mount=type=bind,from=unused,target=/u true', // 14
].join('\n');

test('resolveStages: bases, COPY --from, dependencies, final', () => {
  const df = parseDockerfile(multi, 'Dockerfile');
  const r = resolveStages(df, { buildArgs: noArgs, platform: linuxArm, buildPlatform: linuxAmd64 });
  assert.equal(r.metaArgs.get('IMG'), 'alpine');
  assert.equal(r.metaArgs.has('TAG'), false);
  assert.equal(r.stages.length, 5);
  const [base, build, unused, final, tools] = r.stages;
  assert.deepEqual(base?.base, { kind: 'image', ref: 'alpine:3.19' });
  assert.equal(base?.name, 'base');
  assert.deepEqual(build?.base, { kind: 'stage', index: 0 });
  assert.deepEqual([...(build?.copyFrom.values() ?? [])], [{ kind: 'stage', index: 0 }]);
  assert.deepEqual(final?.base, { kind: 'scratch' });
  assert.deepEqual([...(final?.copyFrom.values() ?? [])],
    [{ kind: 'stage', index: 1 }, { kind: 'stage', index: 0 }, { kind: 'image', ref: 'nginx:latest' }]);
  assert.deepEqual(final?.dependsOn, [0, 1]);
  assert.equal(tools?.platform, 'linux/amd64');
  assert.deepEqual(tools?.dependsOn, [2]);
  // Without --target the last stage is final and needs only itself and the unused stage it mounts.
  assert.deepEqual(r.stages.map((s) => [s.needed, s.final]), [[false, false], [false, false], [true, false], [false, false], [true, true]]);
  assert.equal(unused?.index, 2);
});

test('resolveStages: --target (case-insensitive) drops later stages', () => {
  const df = parseDockerfile(multi, 'Dockerfile');
  const r = resolveStages(df, { buildArgs: new Map([['TAG', 'edge']]), platform: linuxAmd64, target: 'FINAL' });
  assert.equal(r.stages.length, 4);
  assert.deepEqual(r.stages[0]?.base, { kind: 'image', ref: 'alpine:edge' });
  assert.deepEqual(r.stages.map((s) => [s.needed, s.final]), [[true, false], [true, false], [false, false], [true, true]]);
  assert.throws(() => resolveStages(df, { buildArgs: noArgs, platform: linuxAmd64, target: 'nope' }),
    (e: unknown) => e instanceof BuildError && /target stage "nope" could not be found/.test(e.message) && /base, build, unused, final, tools/.test(e.hint ?? ''));
});

test('resolveStages: ARG scoping across stages for --from', () => {
  // A global ARG is not visible in a stage unless re-declared there.
  const df = parseDockerfile([
    'ARG FROMSTAGE=one',
    'FROM alpine AS one',
    'FROM alpine AS two',
    'COPY --from=${FROMSTAGE:-img} /x /x',
    'FROM alpine',
    'ARG FROMSTAGE',
    'COPY --from=$FROMSTAGE /x /x',
  ].join('\n'), 'Dockerfile');
  const r = resolveStages(df, { buildArgs: noArgs, platform: linuxAmd64 });
  assert.deepEqual([...(r.stages[1]?.copyFrom.values() ?? [])], [{ kind: 'image', ref: 'img' }]);
  assert.deepEqual([...(r.stages[2]?.copyFrom.values() ?? [])], [{ kind: 'stage', index: 0 }]);
});

test('resolveStages: errors', () => {
  const blank = parseDockerfile('ARG X\nFROM $X\n', 'Dockerfile');
  assert.throws(() => resolveStages(blank, { buildArgs: noArgs, platform: linuxAmd64 }),
    (e: unknown) => e instanceof DockerfileError && e.line === 2 && /should not be blank/.test(e.message));
  const forward = parseDockerfile('FROM a\nCOPY --from=later /x /x\nFROM b AS later\n', 'Dockerfile');
  assert.throws(() => resolveStages(forward, { buildArgs: noArgs, platform: linuxAmd64 }),
    (e: unknown) => e instanceof DockerfileError && e.line === 2 && /defined before it/.test(e.message));
  const self = parseDockerfile('FROM a\nCOPY --from=0 /x /x\n', 'Dockerfile');
  assert.throws(() => resolveStages(self, { buildArgs: noArgs, platform: linuxAmd64 }), DockerfileError);
  const bad = parseDockerfile('FROM ${X\n', 'Dockerfile');
  assert.throws(() => resolveStages(bad, { buildArgs: noArgs, platform: linuxAmd64 }),
    (e: unknown) => e instanceof DockerfileError && e.line === 1 && /missing '}'/.test(e.message));
});

test('a repeated stage name is allowed: the latest stage of that name so far is the one referenced (BuildKit)', () => {
  const df = parseDockerfile('FROM a AS x\nFROM b AS X\nFROM x\nFROM c AS x\n', 'Dockerfile');
  const { stages } = resolveStages(df, { buildArgs: noArgs, platform: linuxAmd64 });
  assert.deepEqual(stages[2]?.base, { kind: 'stage', index: 1 });
  assert.equal(resolveStages(df, { buildArgs: noArgs, platform: linuxAmd64, target: 'X' }).stages.length, 4);
});
