import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UsageError } from '../errors.ts';
import { executorFlags, warmerFlags } from './flags.ts';
import { buildProgram, parseDuration, parseFlags } from './parse-flags.ts';

function parse(argv: string[], env: Record<string, string> = {}) {
  return parseFlags(buildProgram('executor', 'test', executorFlags), executorFlags, argv, env);
}

describe('executor flags', () => {
  test('booleans take kaniko\'s --flag and --flag=false forms, including --no-push', () => {
    assert.equal(parse(['--no-push']).values.get('no-push'), true);
    assert.equal(parse(['--no-push=false']).values.get('no-push'), false);
    assert.equal(parse(['--reproducible=true']).values.get('reproducible'), true);
    assert.equal(parse([]).values.get('no-push'), undefined);
    assert.throws(() => parse(['--no-push=maybe']), (e) => e instanceof UsageError && /--no-push/.test(e.message));
  });

  test('short letters, repeatable and key=value flags', () => {
    const v = parse(['-d', 'a/b:1', '--destination=c/d:2', '-f', 'Dockerfile.x', '-c', 'dir:///ctx',
      '--registry-certificate', 'r1=/ca1.pem', '--registry-certificate=r2=/ca2.pem', '--registry-map', 'index.docker.io=m1;index.docker.io=m2']).values;
    assert.deepEqual(v.get('destination'), ['a/b:1', 'c/d:2']);
    assert.equal(v.get('dockerfile'), 'Dockerfile.x');
    assert.equal(v.get('context'), 'dir:///ctx');
    assert.deepEqual([...(v.get('registry-certificate') as Map<string, string>)], [['r1', '/ca1.pem'], ['r2', '/ca2.pem']]);
    assert.deepEqual([...(v.get('registry-map') as Map<string, string>)], [['index.docker.io', 'm1;m2']]);
  });

  test('defaults are filled in', () => {
    const v = parse([]).values;
    assert.equal(v.get('dockerfile'), 'Dockerfile');
    assert.equal(v.get('snapshot-mode'), 'full');
    assert.equal(v.get('push-retry'), 0);
  });

  test('deprecated aliases copy to the new flag with a warning', () => {
    const p = parse(['--snapshotMode=redo', '--tarPath=/x.tar', '--whitelist-var-run=false']);
    assert.equal(p.values.get('snapshot-mode'), 'redo');
    assert.equal(p.values.get('tar-path'), '/x.tar');
    assert.equal(p.values.get('ignore-var-run'), false);
    assert.equal(p.warnings.length, 3);
  });

  test('environment variables as kaniko reads them', () => {
    assert.equal(parse([], { KANIKO_NO_PUSH: 'true' }).values.get('no-push'), true);
    assert.deepEqual(parse(['--registry-mirror=a'], { KANIKO_REGISTRY_MIRROR: 'b' }).values.get('registry-mirror'), ['a', 'b']);
    assert.throws(() => parse([], { KANIKO_NO_PUSH: 'sure' }), UsageError);
  });

  test('integers and durations are checked, naming the flag', () => {
    assert.throws(() => parse(['--push-retry=x']), (e) => e instanceof UsageError && /--push-retry/.test(e.message));
    assert.equal(parseDuration('cache-ttl', '336h'), 336 * 3600_000);
    assert.equal(parseDuration('cache-ttl', '1h30m'), 5400_000);
    assert.throws(() => parseDuration('cache-ttl', '2 weeks'), /--cache-ttl/);
  });

  test('unknown flags and flags not built yet fail clearly', () => {
    assert.throws(() => parse(['--bogus']), (e) => e instanceof UsageError && /unknown option '--bogus'/.test(e.message));
    // Every kaniko flag is built today: a table row marked unbuilt shows the behaviour.
    const specs = [{ name: 'later', kind: 'bool', default: false, supported: false, help: 'not built' }] as const;
    const later = (argv: string[]) => parseFlags(buildProgram('t', 't', specs), specs, argv, {});
    assert.throws(() => later(['--later']), (e) => e instanceof UsageError && /--later is not supported yet/.test(e.message));
    assert.doesNotThrow(() => later(['--later=false']));
  });

  test('every kaniko executor flag is in the table', () => {
    const names = new Set(executorFlags.map((f) => f.name));
    for (const name of ['verbosity', 'log-format', 'log-timestamp', 'force', 'dockerfile', 'context', 'context-sub-path', 'bucket',
      'destination', 'snapshot-mode', 'custom-platform', 'build-arg', 'insecure', 'skip-tls-verify', 'insecure-pull', 'skip-tls-verify-pull',
      'push-retry', 'push-ignore-immutable-tag-errors', 'image-fs-extract-retry', 'image-download-retry', 'kaniko-dir', 'tar-path',
      'single-snapshot', 'reproducible', 'target', 'no-push', 'no-push-cache', 'cache-repo', 'cache-dir', 'digest-file',
      'image-name-with-digest-file', 'image-name-tag-with-digest-file', 'oci-layout-path', 'compression', 'compression-level', 'cache',
      'compressed-caching', 'cleanup', 'cache-ttl', 'insecure-registry', 'skip-tls-verify-registry', 'registry-certificate',
      'registry-client-cert', 'registry-map', 'registry-mirror', 'skip-default-registry-fallback', 'ignore-var-run', 'label',
      'skip-unused-stages', 'use-new-run', 'git', 'cache-copy-layers', 'cache-run-layers', 'ignore-path', 'force-build-metadata',
      'skip-push-permission-check', 'snapshotMode', 'customPlatform', 'tarPath', 'whitelist-var-run']) {
      assert.ok(names.has(name), `--${name} missing`);
    }
    const warmer = new Set(warmerFlags.map((f) => f.name));
    for (const name of ['image', 'cache-dir', 'force', 'cache-ttl', 'dockerfile', 'build-arg', 'customPlatform', 'registry-mirror']) {
      assert.ok(warmer.has(name), `warmer --${name} missing`);
    }
  });
});

describe('--help', () => {
  test('lists every visible flag of the table, with its short letter', () => {
    for (const [name, specs] of [['executor', executorFlags], ['warmer', warmerFlags]] as const) {
      const help = buildProgram(name, 'test', specs).helpInformation();
      for (const spec of specs.filter((s) => s.hidden !== true)) {
        assert.ok(help.includes(`--${spec.name}`), `${name} --help lacks --${spec.name}`);
        if (spec.short !== undefined) assert.ok(help.includes(`-${spec.short}, --${spec.name}`), `${name} --help lacks -${spec.short}`);
      }
    }
  });
});
