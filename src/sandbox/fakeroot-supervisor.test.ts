// native/fakeroot-supervisor.c on its own, as uid 1000 without capabilities (setpriv), over a directory it owns:
// the fake credentials, chown/chmod/mknod/stat agreeing through the table, the table in and out, a static binary
// (busybox), forks, and a refused call (mount) named on the error fd.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, chown, lstat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildRunHelper } from './busybox-fixture.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (drops to uid 1000 with setpriv)' : spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status !== 0 && 'needs setpriv';

interface Run { code: number; stdout: string; stderr: string; errorFd: string }

/** The supervisor with `args`, then `command`, as uid 1000 without capabilities. */
function asUser(supervisor: string, cwd: string, args: readonly string[], command: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', '--inh-caps=-all', supervisor, ...args, '--error-fd', '3', '--', ...command],
      { cwd, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    let stdout = '';
    let stderr = '';
    let errorFd = '';
    child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdio[3]?.on('data', (d: Buffer) => { errorFd += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, errorFd }));
  });
}

function supervise(supervisor: string, cwd: string, args: readonly string[], script: string): Promise<Run> {
  return asUser(supervisor, cwd, args, ['/bin/sh', '-c', script]);
}

describe('fakeroot-supervisor', { skip }, () => {
  let supervisor: string;
  let dir: string;
  before(async () => {
    supervisor = join(buildRunHelper(), '..', 'fakeroot-supervisor');
    dir = await mkdtemp(join(tmpdir(), 'fakeroot-'));
    await chown(dir, 1000, 1000);
  });
  after(async () => { if (dir !== undefined) await rm(dir, { recursive: true, force: true }); });

  test('fake root: ids, chown/chmod/mknod seen by stat (dynamic and static binaries), USER switch, table out', async () => {
    const out = join(dir, 'out1');
    const r = await supervise(supervisor, dir, ['--table-out', out], [
      'set -e', 'id -u; id -g', 'echo x > a', 'chown 1500:1600 a', 'chmod 4755 a', 'stat -c "%u:%g:%a" a', 'busybox stat -c "%u:%g:%a" a',
      'ln -s a l', 'chown -h 7:8 l', 'stat -c "%u:%g" l', 'stat -c "%u:%g" a',
      'mknod null c 1 3', 'stat -c "%F %t,%T" null', 'busybox ls -ln null | cut -c1',
      'mkdir d', 'chmod 2775 d', 'stat -c "%a" d', 'touch plain', 'stat -c "%u:%g:%a" plain',
      '(sh -c "chown 42:43 plain" &) ; wait; sleep 0.1; stat -c "%u:%g" plain',
      'su -s /bin/sh nobody -c "id -u; touch mine"', 'stat -c "%u:%g" mine',
      'mkdir sg; chgrp 50 sg; chmod 2775 sg; touch sg/f; mkdir sg/sub; ln -s f sg/l; stat -c %g sg/f; stat -c "%g %a" sg/sub; stat -c %g sg/l',
      'i=$(stat -c %i a); rm a; echo "$i"',
    ].join('\n'));
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const removedInode = lines.pop();
    assert.deepEqual(lines, ['0', '0', '1500:1600:4755', '1500:1600:4755', '7:8', '1500:1600', 'character special file 1,3', 'c', '2775', '0:0:644', '42:43',
      '65534', '65534:65534', '50', '50 2755', '50']);
    // On disk: ours, no setuid, the owner's rw added; the device a regular file.
    const d = await lstat(join(dir, 'd'));
    assert.equal(d.uid, 1000);
    assert.equal(d.mode & 0o7777, 0o775);
    assert.ok((await lstat(join(dir, 'null'))).isFile());
    const table = await readFile(out, 'utf8');
    const byIno = new Map(table.trim().split('\n').map((l) => [l.split(' ')[1], l.split(' ').slice(2).join(' ')]));
    assert.equal(byIno.get(String((await lstat(join(dir, 'null'))).ino)), '0 0 644 c 1 3');
    assert.equal(byIno.get(String((await lstat(join(dir, 'l'))).ino)), '7 8 777 - 0 0');
    assert.equal(byIno.get(String((await lstat(join(dir, 'plain'))).ino)), '42 43 644 - 0 0');
    assert.equal(byIno.get(String((await lstat(join(dir, 'mine'))).ino)), '65534 65534 644 - 0 0');
    assert.equal(byIno.get(removedInode), undefined, 'the record of a removed file is dropped');
  });

  test('the table in: stat sees the owners and modes recorded before the command', async () => {
    await writeFile(join(dir, 'shadow'), 'x\n');
    await chown(join(dir, 'shadow'), 1000, 1000);
    const tableIn = join(dir, 'in');
    await writeFile(tableIn, `0 42 640 - 0 0 ${join(dir, 'shadow')}\0`);
    const r = await supervise(supervisor, dir, ['--table-in', tableIn], 'stat -c "%u:%g:%a" shadow');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0:42:640\n');
  });

  test('a call a fake root cannot make (mount) fails the command with one line naming it', async () => {
    const r = await supervise(supervisor, dir, [], 'mkdir -p m; mount -t tmpfs none m; echo went on');
    assert.equal(r.code, 125);
    assert.match(r.errorFd, /^refused: the command called mount\(2\), which a non-root build cannot allow \(no privileges, no namespaces\); the command went on without it\n$/);
  });
});

// --chroot (non-root --root-dir builds): run-in-root's chroot(ROOT) is emulated by path translation. The root holds
// a static busybox and the host's dynamic dash with its libraries, so both exec paths (direct, and through the
// root's own ELF interpreter) run; symlinks and '..' never leave the root; cwd, /proc/<pid>/{cwd,exe} read as inside.
describe('fakeroot-supervisor --chroot', { skip }, () => {
  let supervisor: string;
  let helper: string;
  let top: string;
  let root: string;
  before(async () => {
    helper = buildRunHelper();
    supervisor = join(helper, '..', 'fakeroot-supervisor');
    top = await mkdtemp(join(tmpdir(), 'fakeroot-chroot-'));
    await chmod(top, 0o755);
    root = join(top, 'root');
    await writeFile(join(top, 'outside'), 'host file\n');
    const sh = (cmd: string): void => { assert.equal(spawnSync('/bin/sh', ['-c', cmd], { stdio: 'inherit' }).status, 0, cmd); };
    sh(`set -e; R='${root}'; mkdir -p "$R/bin" "$R/usr/bin" "$R/etc" "$R/work" "$R/sub/bin" "$R/tmp"
      cp /bin/busybox "$R/bin/busybox"; for a in sh ls cat stat echo chown ln readlink pwd chroot chmod; do ln -s busybox "$R/bin/$a"; done
      cp /bin/busybox "$R/sub/bin/busybox"; echo inner > "$R/sub/inner"
      cp /bin/dash "$R/usr/bin/dash"
      for lib in $(ldd /bin/dash | grep -o '/[^ ]*'); do mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; done
      echo 'root:x:0:0::/root:/bin/sh' > "$R/etc/passwd"; ln -s / "$R/up"; ln -s /etc/passwd "$R/pw"
      printf '#!/usr/bin/dash\\necho script "$0" "$1"\\n' > "$R/s.sh"; chmod 755 "$R/s.sh"; chown -R 1000:1000 "$R"
      mkdir '${top}/run'; chown 1000:1000 '${top}/run'
      echo s > "$R/secret"; chmod 600 "$R/secret"; mkdir "$R/private"; chmod 700 "$R/private"; chmod 1777 "$R/tmp"; echo r > "$R/tmp/roots"
      printf '#!/bin/sh\\necho ran\\n' > "$R/bin/noexec"; chmod 644 "$R/bin/noexec"; chown -R 1000:1000 "$R"`);
  });
  after(async () => { if (top !== undefined) await rm(top, { recursive: true, force: true }); });

  function inRoot(script: string): Promise<Run> {
    return asUser(supervisor, top, ['--chroot', '--table-out', join(top, 'run', 'out')], [helper, '--root', root, '--cwd', '/work', '--', '/bin/sh', '-c', script]);
  }

  test('a fake non-root user gets the permission checks of the owners and modes it sees (all the build user\'s on disk)', async () => {
    const r = await asUser(supervisor, top, ['--chroot'], [helper, '--root', root, '--cwd', '/work', '--uid', '1500', '--gid', '1500', '--', '/bin/sh', '-c', [
      'cat /secret 2>/dev/null || echo no-read', 'cd /private 2>/dev/null || echo no-cd', '[ -w /etc ] || echo no-write-etc', 'touch /etc/x 2>/dev/null || echo no-create',
      '/bin/noexec 2>/dev/null || echo no-exec', 'echo mine > /tmp/mine && echo tmp-ok', 'rm /tmp/roots 2>/dev/null || echo sticky', 'rm /tmp/mine && echo rm-own-ok',
      'cat /etc/passwd >/dev/null && echo read-ok',
    ].join('\n')]);
    assert.equal(r.code, 0, r.stderr + r.errorFd);
    assert.deepEqual(r.stdout.trim().split('\n'), ['no-read', 'no-cd', 'no-write-etc', 'no-create', 'no-exec', 'tmp-ok', 'sticky', 'rm-own-ok', 'read-ok']);
  });

  test('paths, exec (static, dynamic, #!), cwd and /proc links as inside the root; nothing outside it is reached', async () => {
    const r = await inRoot([
      'pwd', 'readlink /proc/self/cwd', 'ls /', 'cat /up/up/../../outside 2>/dev/null || echo no-escape', 'cat /pw',
      'cd /up/work/..; pwd -P', 'dash -c \'echo dyn $0; readlink /proc/$$/exe; cat /proc/$$/comm\'', '/s.sh a', 'cd /tmp && ../s.sh b',
      'echo x > /work/f; chown 5:6 /work/f; stat -c %u:%g /work/f', 'chroot /sub /bin/busybox cat /inner',
      '/missing; echo "exit $?"', 'chmod 644 /s.sh; /s.sh; echo "exit $?"',
      // an argument array larger than a scratch slot (xargs): the exec area
      'i=0; set --; while [ $i -lt 20000 ]; do set -- "$@" x; i=$((i+1)); done; dash -c \'echo $#\' sh "$@"',
    ].join('\n'));
    assert.equal(r.code, 0, r.stderr + r.errorFd);
    assert.deepEqual(r.stdout.trim().split('\n'), ['/work', '/work', 'bin', 'etc', 'lib', 'lib64', 'private', 'pw', 's.sh', 'secret', 'sub', 'tmp', 'up', 'usr', 'work',
      'no-escape', 'root:x:0:0::/root:/bin/sh', '/', 'dyn dash', '/usr/bin/dash', 'dash', 'script /s.sh a', 'script ../s.sh b', '5:6', 'inner', 'exit 127', 'exit 126', '20000']);
  });
});
