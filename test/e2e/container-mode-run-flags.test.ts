// RUN --network=none and --mount=type=tmpfs in container mode: the executor builds '/' of a fresh mount + pid
// namespace (as in container-mode.test.ts) and the helper makes the network / mount namespaces itself.
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoConfig } from '../support/run-image.ts';

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-flags-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode: RUN --network=none sees only lo; tmpfs and secret mounts leave nothing in the layer', { timeout: 600_000 }, async () => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  const [host, port] = registry.host.split(':');
  const get = `printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port} | head -1 | grep -q HTTP/`;
  const context = join(work, 'context');
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), [
    `FROM ${registry.host}/busybox:latest`,
    "RUN --network=none echo \"none: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')\"",
    `RUN --network=none if ${get}; then echo none-reached; else echo none-blocked; fi`,
    `RUN ${get} && echo default-reached`,
    'RUN --mount=type=tmpfs,target=/scratch/t stat -f -c "fs: %T" /scratch/t && echo data > /scratch/t/file',
    'RUN test ! -e /scratch && echo clean > /clean',
    'RUN --mount=type=secret,id=tok echo "file: $(stat -c %a /run/secrets/tok) $(wc -c < /run/secrets/tok)"',
    'RUN --mount=type=secret,id=tok,env=TOK echo "env: ${#TOK}" && test ! -e /run/secrets && echo after > /after',
    '',
  ].join('\n'));
  await cp(context, join(root, 'workspace'), { recursive: true });
  const secret = 'S3cr3t-container-value';
  await mkdir(join(root, 'kaniko'), { recursive: true });
  await writeFile(join(root, 'kaniko', 'tok'), secret);
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const destination = `${registry.host}/container-flags:latest`;
  const run = await runContained(script, root, ['--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull', '--log-format=text', '--secret=id=tok,src=/kaniko/tok']);
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  assert.match(run.stdout, /^none: lo $/m);
  assert.match(run.stdout, /^none-blocked$/m);
  assert.match(run.stdout, /^default-reached$/m);
  assert.match(run.stdout, /^fs: tmpfs$/m);
  assert.match(run.stdout, new RegExp(`^file: 400 ${secret.length}$`, 'm'));
  assert.match(run.stdout, new RegExp(`^env: ${secret.length}$`, 'm'));
  assert.ok(!`${run.stdout}${run.stderr}`.includes(secret), 'the secret is not logged');
  const config = await skopeoConfig(`docker://${destination}`, ['--tls-verify=false']);
  const ours = (config['history'] as { empty_layer?: boolean }[]).slice(-4);
  assert.deepEqual(ours.map((h) => h.empty_layer === true), [true, false, true, false], 'tmpfs and file-secret RUNs add no layer');
  assert.ok(!JSON.stringify(config).includes(secret), 'the secret is not in the config');
  assert.deepEqual(await readdir(join(root, 'dev')), []);
});
