// RUN --mount=type=ssh and --ssh through the executor with --root-dir: a real ssh-agent on the host (forwarded), our
// own agent for key files, and the host's ssh-add (with its shared libraries) copied into a busybox base so the RUN
// can list keys and sign through the socket.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoConfig } from '../support/run-image.ts';
import { pushSshBase } from '../support/ssh-base.ts';

function keygen(path: string, comment: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  // "256 SHA256:... comment (ED25519)"
  return execFileSync('ssh-keygen', ['-l', '-f', `${path}.pub`], { encoding: 'utf8' }).trim();
}

describe('RUN --mount=type=ssh', () => {
  let registry: TestRegistry;
  let work: string;
  let agent: ChildProcess | undefined;
  let agentSock: string;
  let forwardedPrint: string;
  let filePrint: string;
  let n = 0;
  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-run-ssh-'));
    await pushSshBase(registry.host);
    forwardedPrint = keygen(join(work, 'k1'), 'e2e-forwarded');
    filePrint = keygen(join(work, 'k2'), 'e2e-file');
    agentSock = join(work, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(agentSock); i++) await new Promise((r) => setTimeout(r, 50));
    execFileSync('ssh-add', ['-q', join(work, 'k1')], { env: { SSH_AUTH_SOCK: agentSock, PATH: process.env['PATH'] ?? '' } });
  });
  after(async () => {
    agent?.kill();
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  async function build(name: string, dockerfile: string, extra: readonly string[] = [], env: Record<string, string> = {}) {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await copyFile(join(work, 'k2.pub'), join(dir, 'k2.pub'));
    await writeFile(join(dir, 'Dockerfile'), dockerfile.replaceAll('BASE', `${registry.host}/ssh-base:latest`));
    return runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/ssh/${name}:latest`,
      `--root-dir=${join(work, `root-${n++}`)}`, '--insecure', '--insecure-pull', '--log-format=text', ...extra], { env });
  }

  test('default, ID=SOCKET and ID=KEYFILE agents: SSH_AUTH_SOCK, socket permissions, signing; nothing stays in a layer', async () => {
    const run = await build('agents', [
      'FROM BASE',
      'COPY k2.pub /k2.pub',
      'RUN --mount=type=ssh echo "default: $SSH_AUTH_SOCK $(stat -c %a:%u:%g $SSH_AUTH_SOCK)" && ssh-add -l',
      'RUN --mount=type=ssh,id=keys,target=/tmp/a.sock,mode=0660,uid=7,gid=8 echo "keys: $SSH_AUTH_SOCK $(stat -c %a:%u:%g /tmp/a.sock)" && ssh-add -l && ssh-add -T /k2.pub && echo signed',
      'RUN --mount=type=ssh,id=sock --mount=type=ssh,id=keys echo "two: $SSH_AUTH_SOCK" && SSH_AUTH_SOCK=/run/buildkit/ssh_agent.1 ssh-add -l',
      'RUN --mount=type=ssh,id=absent echo "absent: ${SSH_AUTH_SOCK:-unset} $(test -e /run/buildkit || echo nodir)"',
      'RUN test ! -e /run/buildkit && test ! -e /tmp/a.sock && echo clean > /clean',
      '',
    ].join('\n'), ['--ssh=default', '--ssh', `keys=${join(work, 'k2')}`, `--ssh=sock=${agentSock}`], { SSH_AUTH_SOCK: agentSock });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n');
    const after = (prefix: string): string | undefined => lines[lines.findIndex((l) => l.startsWith(prefix)) + 1];
    assert.ok(lines.includes('default: /run/buildkit/ssh_agent.0 600:0:0'), run.stdout);
    assert.equal(after('default: '), forwardedPrint);
    assert.ok(lines.includes('keys: /tmp/a.sock 660:7:8'), run.stdout);
    assert.equal(after('keys: '), filePrint);
    assert.ok(lines.includes('signed'), run.stdout);
    assert.ok(lines.includes('two: /run/buildkit/ssh_agent.0'), run.stdout);
    assert.equal(after('two: '), filePrint, 'the second ssh mount is /run/buildkit/ssh_agent.1');
    assert.ok(lines.includes('absent: unset nodir'), run.stdout);
    const config = await skopeoConfig(`docker://${registry.host}/ssh/agents:latest`, ['--tls-verify=false']);
    const ours = (config['history'] as { empty_layer?: boolean }[]).slice(-5);
    assert.deepEqual(ours.map((h) => h.empty_layer === true), [true, true, true, true, false], 'the ssh RUNs add no layer');
    const env = (config['config'] as { Env?: string[] }).Env ?? [];
    assert.ok(!env.some((e) => e.startsWith('SSH_AUTH_SOCK=')), 'SSH_AUTH_SOCK is not in the image ENV');
  });

  test('required=true without the agent fails naming the id', async () => {
    const run = await build('required', 'FROM BASE\nRUN --mount=type=ssh,id=gh,required=true true\n');
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /^error: .*Dockerfile:2: RUN --mount=type=ssh: no SSH agent or key "gh" was given/m, run.stderr);
  });

  test('bad --ssh values, a file that is no key among them: one line naming the flag', async () => {
    for (const [args, re] of [
      [['--ssh=x=/nonexistent/k'], /^error: .*invalid --ssh "x=\/nonexistent\/k": \/nonexistent\/k: no such file or socket$/m],
      [['--ssh=default'], /^error: .*invalid --ssh "default": SSH_AUTH_SOCK is not set/m],
      [['--ssh==k'], /^error: .*invalid --ssh "=k": expected default, ID=SOCKET or ID=KEYFILE/m],
    ] as const) {
      const run = await build('bad', 'FROM BASE\nRUN true\n', args);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, re, run.stderr);
      assert.equal(run.stderr.trim().split('\n').filter((l) => l.startsWith('error:')).length, 1, run.stderr);
    }
    const junk = join(work, 'junk.key');
    await writeFile(junk, 'not a key\n');
    const run = await build('junk', 'FROM BASE\nRUN --mount=type=ssh,id=k true\n', [`--ssh=k=${junk}`]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, new RegExp(`^error: .*invalid --ssh "k=${junk}": ${junk}: not a private key`, 'm'), run.stderr);
  });
});
