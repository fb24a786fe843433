// Issue 3's acceptance: every case under dockerfiles/ is built by our executor and by buildah (Debian's package,
// overlay storage, chroot isolation, docker format, one layer per step), both images are pushed to one loopback
// registry, flattened and compared. Only the differences a case documents (with the reason, and Docker's value where
// buildah departs from Docker) are allowed. The Debian case needs a debootstrap tree (cached under .cache/); without
// a mirror it is skipped, loudly.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { debianBase, debianMirror, DebianUnavailable, mirrorReachable } from '../support/debian-base.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage } from '../support/run-image.ts';
import { loadCases, prepareContext, type ConformanceCase } from './cases.ts';
import {
  buildahChrootArtifacts, buildWithBuildah, buildWithExecutor, compareImages, flattenImage, removeBuildahStorage,
  type BuildahStorage,
} from './harness.ts';

const cases = await loadCases();

function loud(message: string): void {
  // Skips must be seen in CI logs, not only in the TAP summary.
  console.error(`\n!!! conformance: ${message}\n`);
}

describe('conformance: executor vs buildah', { concurrency: 1 }, () => {
  let registry: TestRegistry;
  let work: string;
  let storage: BuildahStorage;
  let busybox: string;
  let debian: Promise<string | DebianUnavailable> | undefined;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'conformance-'));
    storage = { root: join(work, 'buildah', 'storage'), runroot: join(work, 'buildah', 'run') };
    registry = await startRegistry();
    busybox = `${registry.host}/busybox:latest`;
    await pushBusyboxBase(busybox);
  });
  after(async () => {
    if (storage !== undefined) await removeBuildahStorage(storage);
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  /** The Debian base, pushed once on first use; DebianUnavailable when it cannot be made. */
  const debianRef = (): Promise<string | DebianUnavailable> => {
    debian ??= debianBase(registry.host).catch((err: unknown) => {
      if (err instanceof DebianUnavailable) return err;
      throw err;
    });
    return debian;
  };

  const runCase = async (t: TestContext, c: ConformanceCase): Promise<void> => {
    const buildArgs: Record<string, string> = { BASE: busybox, ...c.buildArgs };
    let mirrorUp = false;
    if (c.base === 'debian') {
      const ref = await debianRef();
      if (ref instanceof DebianUnavailable) {
        loud(`SKIPPING ${c.name}: no Debian base (${ref.message})`);
        t.skip(`no Debian base: ${ref.message}`);
        return;
      }
      buildArgs['BASE'] = ref;
      const mirror = await debianMirror();
      mirrorUp = await mirrorReachable(mirror);
      if (!mirrorUp) {
        loud(`${c.name}: Debian mirror ${mirror} unreachable, SKIPPING THE apt-get install STEP (INSTALL_PACKAGES=0)`);
        buildArgs['INSTALL_PACKAGES'] = '0';
      }
    }
    const dir = await mkdtemp(join(work, `${c.name}-`));
    try {
      const context = join(dir, 'context');
      await mkdir(context);
      const dockerfile = await prepareContext(c, context);
      const opts = { buildArgs, ...(c.target === undefined ? {} : { target: c.target }), timeoutMs: 480_000 };
      const repo = `${registry.host}/conformance/${c.name}`;
      // The two builders share nothing but the registry: building both at once halves the suite's time.
      const [ours, reference] = await Promise.all([
        buildWithExecutor(context, dockerfile, `${repo}:executor`, { ...opts, rootDir: join(dir, 'root') }),
        buildWithBuildah(context, dockerfile, `${repo}:buildah`, { ...opts, storage }),
      ]);
      assert.equal(reference.code, 0, `buildah (the reference) failed to build ${c.name}:\n${reference.output.slice(-3000)}`);
      if (ours.code !== 0 && c.usesRun && /RUN is not supported yet/.test(ours.output)) {
        loud(`${c.name}: fails only because RUN is not built yet`);
      }
      assert.equal(ours.code, 0, `the executor failed to build ${c.name}:\n${ours.output.slice(-3000)}`);
      await rm(join(dir, 'root'), { recursive: true, force: true });

      const [flatOurs, flatReference] = await Promise.all([
        flattenImage(`${repo}:executor`, join(dir, 'flat-executor')),
        flattenImage(`${repo}:buildah`, join(dir, 'flat-buildah')),
      ]);
      const comparison = compareImages(flatOurs, flatReference, [...buildahChrootArtifacts, ...c.allowed]);
      t.diagnostic(comparison.report);
      assert.deepEqual(comparison.dockerMismatches, [], `${c.name}: the executor departs from Docker's documented result\n${comparison.report}`);
      assert.equal(comparison.undocumented.length, 0, `${c.name}: undocumented differences from buildah\n${comparison.report}`);

      if (c.run !== undefined) {
        const { stdout } = await runImage(`docker://${repo}:executor`, c.run.args === undefined ? {} : { args: c.run.args });
        assert.match(stdout, new RegExp(c.run.expect), `${c.name}: the image's output under runc`);
        if (mirrorUp && c.run.expectWithMirror !== undefined) assert.match(stdout, new RegExp(c.run.expectWithMirror));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  for (const c of cases) {
    test(`${c.name}: ${c.description}`, { timeout: 900_000 }, (t) => runCase(t, c));
  }

  test('the suite has at least 20 cases', () => {
    assert.ok(cases.length >= 20, `only ${cases.length} cases`);
  });
});
