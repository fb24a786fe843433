import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createIgnoreList, defaultIgnoreEntries, readMountPoints } from './ignore-list.ts';

describe('createIgnoreList', () => {
  const list = createIgnoreList([
    { path: '/proc' },
    { path: '/kaniko/' },
    { path: '/tmp/apt-key-gpghome', prefixOnly: true },
  ]);
  const table: readonly [string, boolean][] = [
    ['/proc', true],
    ['/proc/1/status', true],
    ['proc/self', true],
    ['/proc/', true],
    ['/processes', false],
    ['/kaniko', true],
    ['/kaniko/secrets', true],
    ['/kanikox', false],
    ['/tmp/apt-key-gpghome', false],
    ['/tmp/apt-key-gpghome/pubring', true],
    ['/tmp', false],
    ['/', false],
    ['/usr/../proc/x', true],
  ];
  for (const [p, want] of table) {
    it(`${p} -> ${want}`, () => { assert.equal(list.ignores(p), want); });
  }
  it('an entry for "/" ignores everything', () => {
    const all = createIgnoreList([{ path: '/', prefixOnly: true }]);
    assert.equal(all.ignores('/a'), true);
    assert.equal(all.ignores('/'), false);
  });
});

describe('readMountPoints', () => {
  const sample = [
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
    '23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw',
    '24 22 0:22 / /sys rw,nosuid shared:3 - sysfs sysfs rw',
    '36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
    '37 35 98:0 /x /weird\\011tab\\134back rw - ext3 /dev/root rw',
    '38 22 0:22 / /sys rw - sysfs sysfs rw',
    '',
    'garbage',
  ].join('\n');
  it('reads field 5, decodes escapes, drops "/" and duplicates', () => {
    assert.deepEqual(readMountPoints(sample), ['/proc', '/sys', '/mnt/with space', '/weird\ttab\\back']);
  });
});

describe('defaultIgnoreEntries', () => {
  it('lists the kernel dirs, kaniko dir, /var/run, mounts and extras', () => {
    const entries = defaultIgnoreEntries({ kanikoDir: '/kaniko', ignoreVarRun: true, extraPaths: ['/opt/x'], mountPoints: ['/etc/hosts'] });
    const list = createIgnoreList(entries);
    for (const p of ['/proc', '/sys/x', '/dev/null', '/etc/mtab', '/kaniko/a', '/var/run/docker.sock', '/etc/hosts', '/opt/x/y']) {
      assert.equal(list.ignores(p), true, p);
    }
    assert.equal(list.ignores('/etc/passwd'), false);
    assert.equal(list.ignores('/var'), false);
  });
  it('keeps /var/run when ignoreVarRun is false', () => {
    const list = createIgnoreList(defaultIgnoreEntries({ kanikoDir: '/kaniko', ignoreVarRun: false, extraPaths: [], mountPoints: [] }));
    assert.equal(list.ignores('/var/run/x'), false);
  });
});
