// RUN --mount=type=ssh in container mode: the executor builds '/' of a fresh mount + pid namespace (as in
// container-mode.test.ts); a real ssh-agent on the host listens on a socket under the root's /kaniko (which no
// snapshot sees), given as --ssh default=SOCKET; and a key file under /kaniko served by our own agent (--ssh k=KEYFILE).
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoConfig } from '../support/run-image.ts';
import { pushSshBase } from '../support/ssh-base.ts';

let registry: TestRegistry;
let work: string;
let root: string;
let agent: ChildProcess | undefined;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-ssh-'));
  root = join(work, 'R');
  await Promise.all([pushSshBase(registry.host), assembleKanikoDir(root)]);
});
after(async () => {
  agent?.kill();
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: RUN --mount=type=ssh forwards the agent; the socket leaves nothing in the layer', { timeout: 600_000 }, async () => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp', 'kaniko/ssh']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const sock = join(root, 'kaniko', 'ssh', 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  const key = join(work, 'key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'contained-key', '-f', key]);
  execFileSync('ssh-add', ['-q', key], { env: { SSH_AUTH_SOCK: sock, PATH: process.env['PATH'] ?? '' } });
  const fileKey = join(work, 'filekey');
  execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'contained-file-key', '-f', fileKey]);
  await copyFile(fileKey, join(root, 'kaniko', 'ssh', 'filekey'));
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${registry.host}/ssh-base:latest`,
    'RUN --mount=type=ssh,uid=65534 echo "sock: $SSH_AUTH_SOCK $(stat -c %a:%u /run/buildkit/ssh_agent.0)" && ssh-add -l',
    'RUN --mount=type=ssh,id=k ssh-add -l',
    'RUN test ! -e /run/buildkit && echo clean > /clean',
    '',
  ].join('\n'));
  await cp(context, join(root, 'workspace'), { recursive: true });
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const destination = `${registry.host}/container-ssh:latest`;
  const run = await runContained(script, root, ['--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull',
    '--log-format=text', '--ssh=default=/kaniko/ssh/agent.sock', '--ssh=k=/kaniko/ssh/filekey']);
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  assert.match(run.stdout, /^sock: \/run\/buildkit\/ssh_agent\.0 600:65534$/m);
  assert.match(run.stdout, /contained-key \(ED25519\)$/m);
  assert.match(run.stdout, /^2048 SHA256:\S+ contained-file-key \(RSA\)$/m);
  const config = await skopeoConfig(`docker://${destination}`, ['--tls-verify=false']);
  const ours = (config['history'] as { empty_layer?: boolean }[]).slice(-3);
  assert.deepEqual(ours.map((h) => h.empty_layer === true), [true, true, false], 'the ssh RUNs add no layer');
  assert.deepEqual(await readdir(join(root, 'dev')), []);
});
