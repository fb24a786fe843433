// Every failure ends with one line and a non-zero exit: without root privileges (a Pod under Pod Security
// Standards "Restricted": uid 1000, no capabilities, namespace calls refused) and when a run can never settle.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { projectRoot, runExecutor } from '../support/executor-process.ts';

const pss = join(projectRoot, 'test', 'support', 'pss-restricted.py');
const hasSeccomp = spawnSync('/usr/bin/python3', ['-c', 'import seccomp'], { stdio: 'ignore' }).status === 0;

function oneErrorLine(stderr: string): string {
  const errors = stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.equal(errors.length, 1, stderr);
  assert.doesNotMatch(stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  return errors[0] ?? '';
}

describe('failures always settle', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'e2e-priv-'));
    await chmod(dir, 0o777);
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('as uid 1000 without capabilities (PSS Restricted): non-root mode builds; --rootless=never says what is missing', { skip: !hasSeccomp && 'needs Debian python3-seccomp' }, async () => {
    const never = await runExecutor(['1000:1000', join(projectRoot, 'bin', 'executor'), `--context=dir://${dir}`, `--root-dir=${join(dir, 'root')}`, '--no-push', '--rootless=never'], { bin: pss });
    assert.notEqual(never.code, 0);
    assert.match(oneErrorLine(never.stderr), /--rootless=never: the executor needs root privileges: running as uid 1000 without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_SETGID, CAP_SETUID/);
    const auto = await runExecutor(['1000:1000', join(projectRoot, 'bin', 'executor'), `--context=dir://${dir}`, `--root-dir=${join(dir, 'root2')}`, '--no-push'], { bin: pss });
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(auto.stdout + auto.stderr, /Non-root mode \(running as uid 1000 without CAP_CHOWN/);
  });

  test('a run whose promise can never settle exits with one line, not Node\'s silent 13', () => {
    const script = `import { exitWith } from ${JSON.stringify(join(projectRoot, 'src', 'cli', 'run-cli.ts'))};\nawait exitWith(() => new Promise(() => {}));\n`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 70, r.stderr);
    assert.match(oneErrorLine(r.stderr), /operation still pending/);
  });
});
