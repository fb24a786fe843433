// Issue 5 (warmer): bin/warmer as a process against the real Docker distribution registry: --image, --dockerfile
// (ARG-driven FROM, stage names and scratch skipped), a second run finding everything cached, and failures.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { anonymousKeychain } from '../../src/auth/keychain.ts';
import { cachedBaseImage } from '../../src/cache/base-image-cache.ts';
import { hostPlatform } from '../../src/oci/platform.ts';
import { validateImage } from '../../src/oci/validate.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { writeImage } from '../../src/registry/remote.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { fixtureImage, fixtureLayer } from '../support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runWarmer } from '../support/warmer-process.ts';

const log = pino({ level: 'silent' });
const DAY = 24 * 3600 * 1000;

/** Lines the warmer printed itself (not log lines). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error: '));
}

describe('warmer', () => {
  let registry: TestRegistry;
  let work: string;
  let busybox: string;
  let busyboxDigest: string;
  let tools: string;
  let toolsDigest: string;

  const cacheDir = async (): Promise<string> => mkdtemp(join(work, 'cache-'));
  const entries = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.startsWith('sha256:')).sort();

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-warmer-'));
    busybox = `${registry.host}/busybox:latest`;
    busyboxDigest = await pushBusyboxBase(busybox);
    const platform = hostPlatform();
    const img = await fixtureImage([await fixtureLayer([{ name: 'usr/bin/tool', content: 'tool' }])], { platform });
    tools = `${registry.host}/tools:2`;
    toolsDigest = await writeImage(parseReference(tools), img, {
      keychain: anonymousKeychain, insecureRegistries: new Set([registry.host]), skipTlsVerifyRegistries: new Set(),
      certificates: new Map(), clientCerts: new Map(), retries: 0, userAgent: 'kaniko-ts-test', log,
    });
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('--image twice caches both; a second run finds them cached', async () => {
    const dir = await cacheDir();
    const args = [`--cache-dir=${dir}`, `--image=${busybox}`, `-i`, tools, `--insecure-registry=${registry.host}`, '--log-format=text'];
    const first = await runWarmer(args);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(await entries(dir), [busyboxDigest, toolsDigest].sort());
    assert.match(first.stderr, new RegExp(`Warming image ${busybox}`));
    assert.match(first.stderr, new RegExp(`Cached ${tools} as ${toolsDigest}`));
    for (const ref of [busybox, tools]) {
      const img = await cachedBaseImage(ref, { cacheDir: dir, ttl: DAY, platform: hostPlatform(), log });
      assert.ok(img !== undefined, `${ref} is served from the cache`);
      await validateImage(img);
    }

    const second = await runWarmer(args);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, new RegExp(`${busybox} already cached`));
    assert.match(second.stderr, new RegExp(`${tools} already cached`));

    const forced = await runWarmer([...args, '-f']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, new RegExp(`Cached ${busybox} as ${busyboxDigest}`));
  });

  test('--dockerfile warms every FROM image, expanded with --build-arg, skipping scratch and stage names', async () => {
    const dir = await cacheDir();
    const dockerfile = join(work, 'Dockerfile.multi');
    await writeFile(dockerfile, [
      `ARG REGISTRY=${registry.host}`,
      'ARG TOOLS_TAG=1',
      'FROM ${REGISTRY}/busybox AS build',
      'RUN echo hi > /x',
      'FROM build AS again',
      'FROM scratch AS empty',
      'COPY --from=build /x /x',
      'FROM ${REGISTRY}/tools:${TOOLS_TAG}',
      '',
    ].join('\n'));
    const run = await runWarmer([`--cache-dir=${dir}`, `--dockerfile=${dockerfile}`, '--build-arg=TOOLS_TAG=2',
      '--insecure-pull', '--log-format=text']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await entries(dir), [busyboxDigest, toolsDigest].sort());
    const warming = run.stderr.split('\n').filter((l) => l.includes('Warming image'));
    assert.equal(warming.length, 2, run.stderr);
    assert.doesNotMatch(run.stderr, /Warming image (scratch|build)\b/);
  });

  test('a failing image gives a non-zero exit and one error line naming it; the others are still cached', async () => {
    const dir = await cacheDir();
    const missing = `${registry.host}/missing:1`;
    const run = await runWarmer([`--cache-dir=${dir}`, `--image=${missing}`, `--image=${tools}`, '--image=Bad Ref',
      `--insecure-registry=${registry.host}`, '--log-format=text']);
    assert.equal(run.code, 1, run.stderr);
    const errors = errorLines(run.stderr);
    assert.equal(errors.length, 2, run.stderr);
    assert.ok(errors[0]?.startsWith(`error: ${missing}: `), errors[0]);
    assert.ok(errors[1]?.startsWith('error: Bad Ref: '), errors[1]);
    assert.deepEqual(await entries(dir), [toolsDigest]);
  });

  test('two warmers at once on one cache directory both succeed and leave one entry per image', async () => {
    const dir = await cacheDir();
    const args = [`--cache-dir=${dir}`, `--image=${busybox}`, `--image=${tools}`, `--insecure-registry=${registry.host}`, '--log-format=text'];
    const runs = await Promise.all([runWarmer(args), runWarmer(args)]);
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await readdir(dir)).sort(), ['refs', ...[busyboxDigest, toolsDigest].sort()], 'no temporary directories left');
    for (const ref of [busybox, tools]) {
      const img = await cachedBaseImage(ref, { cacheDir: dir, ttl: DAY, platform: hostPlatform(), log });
      await validateImage(img ?? assert.fail(`${ref} not cached`));
    }
  });

  test('needs --image or --dockerfile', async () => {
    const run = await runWarmer([`--cache-dir=${await cacheDir()}`]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: you must provide --image or --dockerfile/m);
  });
});
