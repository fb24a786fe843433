// Issue 16 item 4: BuildKit's build checks. `--check` reports without building (exit 1 when a check fires),
// every build logs the warnings with Dockerfile:line, and check=error=true fails a build before anything is pushed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry } from '../support/registry-server.ts';

describe('build checks', () => {
  let dir: string;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let n = 0;
  const root = (): string => join(dir, `root-${n++}`);
  const dockerfile = async (name: string, text: string): Promise<string> => {
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };
  const build = (file: string, extra: readonly string[] = [], env?: Record<string, string>) =>
    runExecutor([`--context=dir://${dir}`, `--dockerfile=${file}`, `--root-dir=${root()}`, '--no-push', '--log-format=text', ...extra],
      env === undefined ? {} : { env });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'e2e-checks-'));
    registry = await startRegistry({ auth: 'none' });
    await writeFile(join(dir, 'app.txt'), 'app\n');
    await writeFile(join(dir, 'secret.txt'), 'secret\n');
    await writeFile(join(dir, '.dockerignore'), 'secret.txt\n');
  });
  after(async () => {
    await registry?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('--check prints the warnings BuildKit-style and exits 1, without building', async () => {
    const file = await dockerfile('Dockerfile.bad', 'FROM scratch as build\nCOPY app.txt /\nCMD echo hi\n');
    const r = root();
    // --check needs neither --destination nor --no-push: it builds and pushes nothing.
    const run = await runExecutor([`--context=dir://${dir}`, `--dockerfile=${file}`, `--root-dir=${r}`, '--check']);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^Check complete, 2 warnings have been found!\n/);
    assert.match(run.stdout, /\nWARNING: FromAsCasing - https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/from-as-casing\/\n'as' and 'FROM' keywords' casing do not match\n.*Dockerfile\.bad:1\n-+\n\s+1 \| >>> FROM scratch as build\n/);
    assert.match(run.stdout, /\nWARNING: JSONArgsRecommended - .*\nJSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n.*Dockerfile\.bad:3\n/);
    assert.match(run.stderr, /^error: lint violation found for rules: FromAsCasing, JSONArgsRecommended$/m);
    assert.doesNotMatch(run.stderr, /Building stage/);
    assert.ok(!existsSync(join(r, 'app.txt')), 'nothing was built');
  });

  test('--check exits 0 on a clean Dockerfile, and when the checks are skipped', async () => {
    const clean = await dockerfile('Dockerfile.clean', 'FROM scratch AS build\nCOPY app.txt /\nCMD ["echo", "hi"]\n');
    const ok = await build(clean, ['--check']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Check complete, no warnings found.\n');

    const bad = 'FROM scratch as build\nCOPY app.txt /\nCMD echo hi\n';
    const directive = await dockerfile('Dockerfile.skip', `# check=skip=FromAsCasing,JSONArgsRecommended\n${bad}`);
    assert.equal((await build(directive, ['--check'])).code, 0);
    const partly = await dockerfile('Dockerfile.partly', `# check=skip=FromAsCasing\n${bad}`);
    const one = await build(partly, ['--check']);
    assert.equal(one.code, 1);
    assert.match(one.stdout, /^Check complete, 1 warning has been found!\n\nWARNING: JSONArgsRecommended/);
    const plain = await dockerfile('Dockerfile.plain', bad);
    assert.equal((await build(plain, ['--check', '--check-skip=all'])).code, 0);
    assert.equal((await build(plain, ['--check', '--check-skip=FromAsCasing,JSONArgsRecommended'])).code, 0);
    assert.equal((await build(plain, ['--check'], { BUILDKIT_DOCKERFILE_CHECK: 'skip=all' })).code, 0);
    assert.equal((await build(plain, ['--check', '--build-arg=BUILDKIT_DOCKERFILE_CHECK=skip=FromAsCasing,JSONArgsRecommended'])).code, 0);
    // BUILDKIT_DOCKERFILE_CHECK replaces the directive, as in BuildKit.
    assert.equal((await build(directive, ['--check'], { BUILDKIT_DOCKERFILE_CHECK: 'skip=ReservedStageName' })).code, 1);
  });

  test('--check --log-format=json prints one JSON object per line', async () => {
    const file = await dockerfile('Dockerfile.json', 'FROM scratch as build\nCOPY app.txt /\n');
    const run = await build(file, ['--check', '--log-format=json']);
    assert.equal(run.code, 1);
    const objects = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(objects.map((o) => [o['level'], o['check'], o['line']]), [['warn', 'FromAsCasing', 1], ['info', undefined, undefined]]);
    assert.equal(objects[1]?.['msg'], 'Check complete, 1 warning has been found!');
    for (const l of run.stderr.trim().split('\n')) JSON.parse(l);
  });

  test('a bad check option names where it came from', async () => {
    const file = await dockerfile('Dockerfile.badopt', '# check=skip\nFROM scratch\nCOPY app.txt /\n');
    const run = await build(file, ['--check']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: .*Dockerfile\.badopt:1: failed to parse check options: invalid check option "skip"$/m);
    const env = await build(file, ['--check'], { BUILDKIT_DOCKERFILE_CHECK: 'frob=1' });
    assert.match(env.stderr, /^error: BUILDKIT_DOCKERFILE_CHECK: .*invalid check option "frob"$/m);
  });

  test('experimental CopyIgnoredFile runs when enabled', async () => {
    const file = await dockerfile('Dockerfile.ignored', '# check=experimental=CopyIgnoredFile\nFROM scratch\nCOPY secret.txt app.txt /\n');
    const run = await build(file, ['--check']);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stdout, /WARNING: CopyIgnoredFile - .*\nAttempting to Copy file "secret\.txt" that is excluded by \.dockerignore\n/);
  });

  test('a real build logs every warning with Dockerfile:line and still succeeds', async () => {
    // A base image with its own ENV: UndefinedVar knows BASEVAR from it and warns only about the typo.
    const baseFile = await dockerfile('Dockerfile.base', 'FROM scratch\nENV BASEVAR=1\nCOPY app.txt /\n');
    const base = await runExecutor([`--context=dir://${dir}`, `--dockerfile=${baseFile}`, `--root-dir=${root()}`,
      `--destination=${registry.host}/checks-base:latest`, '--insecure', '--insecure-pull']);
    assert.equal(base.code, 0, base.stderr);
    const file = await dockerfile('Dockerfile.build', `FROM ${registry.host}/checks-base:latest as app\nENV X=$BASEVAR Y=$BASEVR\nWORKDIR srv\nCOPY app.txt .\n`);
    const r = root();
    const run = await runExecutor([`--context=dir://${dir}`, `--dockerfile=${file}`, `--root-dir=${r}`, '--no-push', '--insecure-pull', '--log-format=text']);
    assert.equal(run.code, 0, run.stderr);
    const warnings = run.stderr.split('\n').filter((l) => l.startsWith('WARN'));
    assert.equal(warnings.length, 3, run.stderr);
    assert.match(warnings[0] ?? '', /Dockerfile\.build:1: FromAsCasing: 'as' and 'FROM' keywords' casing do not match/);
    assert.match(warnings[1] ?? '', /Dockerfile\.build:2: UndefinedVar: Usage of undefined variable '\$BASEVR' \(did you mean \$BASEVAR\?\)/);
    assert.match(warnings[2] ?? '', /Dockerfile\.build:3: WorkdirRelativePath: Relative workdir "srv" can have unexpected results if the base image changes/);
    assert.ok(existsSync(join(r, 'srv', 'app.txt')), 'the build ran');
  });

  test('check=error=true fails the build before anything is pushed', async () => {
    const file = await dockerfile('Dockerfile.strict', '# check=error=true\nFROM scratch as build\nCOPY app.txt /\n');
    const r = root();
    const run = await runExecutor([`--context=dir://${dir}`, `--dockerfile=${file}`, `--root-dir=${r}`,
      `--destination=${registry.host}/checks-strict:latest`, '--insecure', '--log-format=text']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Dockerfile\.strict:2: FromAsCasing:/);
    assert.match(run.stderr, /^error: lint violation found for rules: FromAsCasing$/m);
    assert.ok(!existsSync(join(r, 'app.txt')), 'nothing was built');
    const tags = await fetch(`${registry.url}/v2/checks-strict/tags/list`);
    assert.equal(tags.status, 404, 'nothing was pushed');
    // The same Dockerfile builds once the rule is skipped.
    const skipped = await runExecutor([`--context=dir://${dir}`, `--dockerfile=${file}`, `--root-dir=${root()}`, '--no-push', '--check-skip=FromAsCasing']);
    assert.equal(skipped.code, 0, skipped.stderr);
  });
});
