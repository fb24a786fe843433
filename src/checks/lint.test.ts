// One row per BuildKit rule: a Dockerfile that fires it (with BuildKit's message and line) and one that does not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDockerfile } from '../dockerfile/parse.ts';
import { parseCheckOptions } from './config.ts';
import { runChecks, type CheckInput, type CheckWarning } from './lint.ts';
import { isValidReference, suggest } from './words.ts';
import { ruleNames, rules, type RuleName } from './rules.ts';

type Extra = Omit<CheckInput, 'dockerfile' | 'source'>;

function check(text: string, extra: Extra = {}): CheckWarning[] {
  return runChecks({ dockerfile: parseDockerfile(text, 'Dockerfile'), source: text, allStages: true, ...extra });
}

/** A matcher like src/context's, for plain patterns (exact paths and their parents). */
function ignoring(...patterns: string[]): NonNullable<Extra['dockerignore']> {
  return { patterns, matches: (p) => patterns.some((pat) => pat === '*' || p === pat || p.startsWith(`${pat}/`)) };
}

const experimental = { config: parseCheckOptions('experimental=all') };

interface Row {
  readonly rule: RuleName;
  readonly fires: string;
  readonly message: string;
  readonly line: number;
  readonly quiet: string;
  readonly extra?: Extra;
}

const table: readonly Row[] = [
  { rule: 'StageNameCasing', fires: 'FROM alpine AS Builder\n', line: 1, message: "Stage name 'Builder' should be lowercase", quiet: 'FROM alpine AS builder\n' },
  { rule: 'FromAsCasing', fires: 'FROM alpine as builder\n', line: 1, message: "'as' and 'FROM' keywords' casing do not match", quiet: 'from alpine as builder\n' },
  { rule: 'NoEmptyContinuation', fires: 'FROM alpine\nRUN apk add \\\n\n    gnupg\n', line: 4, message: 'Empty continuation line',
    quiet: 'FROM alpine\nRUN apk add \\\n# a comment\n    gnupg\n' },
  { rule: 'ConsistentInstructionCasing', fires: 'FROM alpine\nRUN echo hi\nrun echo x\n', line: 3,
    message: "Command 'run' should match the case of the command majority (uppercase)", quiet: 'from alpine\nrun echo hi\n' },
  { rule: 'DuplicateStageName', fires: 'FROM alpine AS b\nFROM busybox AS b\n', line: 2,
    message: 'Duplicate stage name "b", stage names should be unique', quiet: 'FROM alpine AS a\nFROM busybox AS b\n' },
  { rule: 'ReservedStageName', fires: 'FROM alpine AS scratch\n', line: 1, message: 'Stage name should not use the same name as reserved stage "scratch"',
    quiet: 'FROM alpine AS base\n' },
  { rule: 'JSONArgsRecommended', fires: 'FROM alpine\nCMD echo hi\n', line: 2,
    message: 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
    quiet: 'FROM alpine\nCMD ["echo", "hi"]\nFROM alpine\nSHELL ["/bin/sh", "-c"]\nENTRYPOINT echo hi\n' },
  { rule: 'MaintainerDeprecated', fires: 'FROM alpine\nMAINTAINER me <me@example.com>\n', line: 2,
    message: 'Maintainer instruction is deprecated in favor of using label', quiet: 'FROM alpine\nLABEL org.opencontainers.image.authors="me"\n' },
  { rule: 'UndefinedArgInFrom', fires: 'ARG VERSION=3\nFROM alpine:${VERSIN}\n', line: 2, message: "FROM argument 'VERSIN' is not declared (did you mean VERSION?)",
    quiet: 'ARG VERSION=3\nFROM alpine:${VERSION}\nFROM --platform=$BUILDPLATFORM alpine\n' },
  { rule: 'WorkdirRelativePath', fires: 'FROM alpine\nWORKDIR app\n', line: 2, message: 'Relative workdir "app" can have unexpected results if the base image changes',
    quiet: 'FROM alpine\nWORKDIR /app\nWORKDIR sub\n' },
  { rule: 'UndefinedVar', fires: 'FROM alpine\nENV PATH=$PATH:$GOPTH/bin\nARG GOPATH=/go\n', line: 2, message: "Usage of undefined variable '$GOPTH'",
    quiet: 'FROM alpine\nARG GOPATH\nENV PATH=$PATH:$GOPATH/bin\nRUN echo $UNDEFINED_IN_RUN\n' },
  { rule: 'MultipleInstructionsDisallowed', fires: 'FROM alpine\nCMD ["a"]\nCMD ["b"]\n', line: 2,
    message: 'Multiple CMD instructions should not be used in the same stage because only the last one will be used',
    quiet: 'FROM alpine AS one\nCMD ["a"]\nFROM one\nCMD ["b"]\n' },
  { rule: 'LegacyKeyValueFormat', fires: 'FROM alpine\nENV A 1\n', line: 2, message: '"ENV key=value" should be used instead of legacy "ENV key value" format',
    quiet: 'FROM alpine\nENV A=1\nLABEL a=b\n' },
  { rule: 'RedundantTargetPlatform', fires: 'FROM --platform=$TARGETPLATFORM alpine\n', line: 1,
    message: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
    quiet: 'FROM --platform=$BUILDPLATFORM alpine\n' },
  { rule: 'SecretsUsedInArgOrEnv', fires: 'FROM alpine\nARG GITHUB_TOKEN\n', line: 2, message: 'Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN")',
    quiet: 'FROM alpine\nARG PUBLIC_KEY\nENV TOKENIZER=x\n' },
  { rule: 'InvalidDefaultArgInFrom', fires: 'ARG TAG\nFROM alpine:${TAG}\n', line: 2,
    message: 'Default value for ARG alpine:${TAG} results in empty or invalid base image name', quiet: 'ARG TAG=3.20\nFROM alpine:${TAG}\n' },
  { rule: 'FromPlatformFlagConstDisallowed', fires: 'FROM --platform=linux/amd64 alpine AS builder\n', line: 1,
    message: 'FROM --platform flag should not use constant value "linux/amd64"', quiet: 'FROM --platform=linux/amd64 alpine AS builder-amd64\n' },
  { rule: 'CopyIgnoredFile', fires: 'FROM alpine\nCOPY ./secrets/key /key\n', line: 2,
    message: 'Attempting to Copy file "secrets/key" that is excluded by .dockerignore',
    quiet: 'FROM alpine AS s\nCOPY app /app\nFROM alpine\nCOPY --from=s secrets /x\n', extra: { ...experimental, dockerignore: ignoring('secrets') } },
  { rule: 'InvalidDefinitionDescription', fires: 'FROM alpine\n# the version to use\nARG VERSION=1\n', line: 3,
    message: 'Comment for ARG should follow the format: `# VERSION <description>`',
    quiet: '# check=experimental=all\nFROM alpine\n# VERSION the version to use\nARG VERSION=1\n# a note\n\nARG OTHER=1\n', extra: experimental },
  { rule: 'ExposeProtoCasing', fires: 'FROM alpine\nEXPOSE 80/TCP\n', line: 2, message: "Defined protocol '80/TCP' in EXPOSE instruction should be lowercase",
    quiet: 'FROM alpine\nEXPOSE 80/tcp 53/udp 443\n' },
  { rule: 'ExposeInvalidFormat', fires: 'FROM alpine\nEXPOSE 127.0.0.1:80:80\n', line: 2,
    message: "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'", quiet: 'FROM alpine\nEXPOSE 80\n' },
];

describe('every rule fires on its bad Dockerfile and stays silent on the good one', () => {
  test('the table covers every rule', () => {
    assert.deepEqual(table.map((r) => r.rule).sort(), [...ruleNames].sort());
  });
  for (const row of table) {
    test(row.rule, () => {
      const extra = row.extra ?? (rules[row.rule].experimental ? experimental : {});
      const fired = check(row.fires, extra).filter((w) => w.rule === row.rule);
      assert.deepEqual(fired.map((w) => ({ line: w.line, message: w.message })), [{ line: row.line, message: row.message }]);
      assert.equal(fired[0]?.url, rules[row.rule].url);
      assert.deepEqual(check(row.quiet, extra).filter((w) => w.rule === row.rule), []);
    });
  }
});

describe('configuration', () => {
  const bad = 'FROM alpine as builder\nCMD echo hi\n';
  test('skip=, skip=all; experimental rules only when enabled', () => {
    assert.deepEqual(check(bad).map((w) => w.rule), ['FromAsCasing', 'JSONArgsRecommended']);
    assert.deepEqual(check(bad, { config: parseCheckOptions('skip=JSONArgsRecommended') }).map((w) => w.rule), ['FromAsCasing']);
    assert.deepEqual(check(bad, { config: parseCheckOptions('skip=all') }), []);
    assert.deepEqual(check('FROM alpine\n# x\nARG A\n').map((w) => w.rule), []);
  });
  test('parse errors name the option', () => {
    assert.throws(() => parseCheckOptions('skip'), /invalid check option "skip"/);
    assert.throws(() => parseCheckOptions('frob=1'), /invalid check option "frob"/);
    assert.throws(() => parseCheckOptions('error=maybe'), /error=maybe/);
    assert.deepEqual(parseCheckOptions(' skip = A, B ; error=true').skip, new Set(['A', 'B']));
    assert.equal(parseCheckOptions('error=true').error, true);
  });
  test('dispatch-time rules look only at the stages the target reaches unless allStages', () => {
    const text = 'FROM alpine AS unused\nWORKDIR rel\nFROM alpine\nRUN true\n';
    const df = parseDockerfile(text, 'Dockerfile');
    assert.deepEqual(runChecks({ dockerfile: df, source: text }).map((w) => w.rule), []);
    assert.deepEqual(runChecks({ dockerfile: df, source: text, allStages: true }).map((w) => w.rule), ['WorkdirRelativePath']);
  });
  test('UndefinedVar knows the base image ENV when told, and is silent when it is unknown', () => {
    const text = 'FROM golang\nENV PATH=$GOPATH/bin:$PATH\n';
    assert.deepEqual(check(text).map((w) => w.rule), ['UndefinedVar']);
    assert.deepEqual(check(text, { baseImageEnv: () => ['PATH', 'GOPATH'] }), []);
    assert.deepEqual(check(text, { baseImageEnv: () => undefined }), []);
    assert.deepEqual(check('FROM golang AS a\nENV X=1\nFROM a\nENV Y=$X\n'), []);
  });
});

test('helpers: suggestions and image references', () => {
  assert.equal(suggest('VERSIN', ['VERSION', 'OTHER']), 'VERSION');
  assert.equal(suggest('ABCDEF', ['XYZ']), '');
  for (const ok of ['alpine', 'alpine:3.20', 'docker.io/library/alpine:latest', 'localhost:5000/a/b@sha256:' + 'a'.repeat(64), 'Registry.Example.com/x']) {
    assert.ok(isValidReference(ok), ok);
  }
  for (const bad of ['', 'alpine:', 'Alpine', 'a'.repeat(64), 'alpine::1']) assert.ok(!isValidReference(bad), bad);
});
