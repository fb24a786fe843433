import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.ts';
import { formatPlatform, hostPlatform, parsePlatformSpec, platformMatches } from './platform.ts';

test('parsePlatformSpec good and bad', () => {
  assert.deepEqual(parsePlatformSpec('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatformSpec('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatformSpec('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  for (const bad of ['', 'linux', 'linux/', '/amd64', 'linux/arm/v7/x', 'linux/am d64']) {
    assert.throws(() => parsePlatformSpec(bad), (e: unknown) => e instanceof UsageError && e.message.includes('--custom-platform'), bad);
  }
});

test('hostPlatform maps node arch names', () => {
  assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(hostPlatform('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(hostPlatform('s390x'), { os: 'linux', architecture: 's390x' });
  assert.equal(hostPlatform().os, 'linux');
});

test('platformMatches', () => {
  const table: Array<[Parameters<typeof platformMatches>[0], string, boolean]> = [
    [{ os: 'linux', architecture: 'amd64' }, 'linux/amd64', true],
    [{ os: 'linux', architecture: 'amd64' }, 'linux/arm64', false],
    [{ os: 'windows', architecture: 'amd64' }, 'linux/amd64', false],
    [undefined, 'linux/amd64', false],
    [{ os: 'linux', architecture: 'arm64' }, 'linux/arm64/v8', true],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64', true],
    [{ os: 'linux', architecture: 'arm', variant: 'v6' }, 'linux/arm/v7', false],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7', true],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm', true],
    [{ os: 'linux', architecture: 'arm' }, 'linux/arm/v7', false],
  ];
  for (const [cand, want, expected] of table) {
    assert.equal(platformMatches(cand, parsePlatformSpec(want)), expected, `${JSON.stringify(cand)} vs ${want}`);
  }
});

test('formatPlatform', () => {
  assert.equal(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }), 'linux/arm/v7');
  assert.equal(formatPlatform({ os: 'linux', architecture: 'amd64' }), 'linux/amd64');
});
