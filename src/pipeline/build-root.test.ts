import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../errors.ts';
import { checkRootWritable, chooseBuildRoot, chooseRootMode, detectContainer, type ContainerSignals } from './build-root.ts';

function signals(files: Record<string, string>, env: Record<string, string> = {}): ContainerSignals {
  return { env, readFile: (p) => files[p], exists: (p) => p in files };
}

test('container detection follows kaniko\'s signals', () => {
  assert.equal(detectContainer(signals({})), undefined);
  assert.equal(detectContainer(signals({ '/.dockerenv': '' })), 'docker');
  assert.equal(detectContainer(signals({ '/run/.containerenv': '' })), 'podman');
  assert.equal(detectContainer(signals({}, { container: 'oci' })), 'oci');
  assert.equal(detectContainer(signals({ '/proc/1/cgroup': '0::/kubepods/besteffort/pod1/abc\n' })), 'kubepods');
  assert.equal(detectContainer(signals({ '/proc/mounts': 'overlay / overlay rw 0 0\n' })), 'overlay-root');
  assert.equal(detectContainer(signals({ '/proc/1/cgroup': '0::/init.scope\n', '/proc/mounts': '/dev/vda / ext4 rw 0 0\n' })), undefined);
});

test('outside a container, / needs --force; --root-dir is always fine', () => {
  assert.throws(() => chooseBuildRoot({ force: false }, signals({})), (e) => e instanceof UsageError && /refusing to build into \//.test(e.message));
  assert.deepEqual(chooseBuildRoot({ force: true }, signals({})), { rootDir: '/', containerMode: true });
  assert.deepEqual(chooseBuildRoot({ rootDir: '/tmp/r', force: false }, signals({})), { rootDir: '/tmp/r', containerMode: false });
  assert.deepEqual(chooseBuildRoot({ force: false }, signals({ '/.dockerenv': '' })), { rootDir: '/', containerMode: true });
});

test('chooseRootMode: auto decides, never without the capabilities is refused with what is missing', () => {
  assert.equal(chooseRootMode('auto', 'Uid:\t0\t0\t0\t0\nCapEff:\t00000000a80425fb\n', { isolate: false }).rootless, false);
  assert.equal(chooseRootMode('auto', 'Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n', { isolate: true }).rootless, true);
  assert.throws(() => chooseRootMode('never', 'Uid:\t0\t0\t0\t0\nCapEff:\t00000000a80425f8\n', { isolate: false }),
    /--rootless=never: the executor needs root privileges: running as uid 0 without CAP_CHOWN, CAP_DAC_OVERRIDE$/);
});

test('non-root container mode refuses a / it cannot write, with one line and a hint', () => {
  const nonRoot = chooseRootMode('auto', 'Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n', { isolate: false });
  assert.throws(() => checkRootWritable(nonRoot, true, () => false), /^BuildError: non-root mode in container mode builds into \/, which uid 1000 cannot write$/);
  checkRootWritable(nonRoot, true, () => true);
  checkRootWritable(nonRoot, false, () => false);
  checkRootWritable(chooseRootMode('auto', 'Uid:\t0\t0\t0\t0\nCapEff:\t00000000a80425fb\n', { isolate: false }), true, () => false);
});
