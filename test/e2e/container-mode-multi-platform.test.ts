// Several platforms in container mode: the executor builds in '/' of its own container, once per platform, '/'
// reset between platforms; a $BUILDPLATFORM stage that RUNs is shared, the per-platform COPY is not.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoConfig, skopeoInspect } from '../support/run-image.ts';

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-multi-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode, two platforms: one index, a manifest per platform, the $BUILDPLATFORM stage run once', { timeout: 600_000 }, async () => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await writeFile(join(root, 'workspace', 'Dockerfile'), [
    `FROM --platform=$BUILDPLATFORM ${registry.host}/busybox:latest AS tools`,
    'RUN cat /proc/sys/kernel/random/uuid > /stamp',
    'FROM scratch',
    'ARG TARGETARCH',
    'COPY --from=tools /stamp /stamp-$TARGETARCH',
    '',
  ].join('\n'));
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const destination = `${registry.host}/container-multi:latest`;
  const run = await runContained(script, root, ['--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull',
    '--log-format=text', '--platform=linux/amd64,linux/arm64']);
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  assert.match(run.stderr + run.stdout, /1 step\(s\) took the layer an earlier platform made/);
  // Every capability and '/' a mountpoint (a privileged container): the tools stage RUNs isolated, with /proc.
  assert.match(run.stderr, /Stages other than the target RUN isolated in their own directory/);
  const index = await skopeoInspect(`docker://${destination}`, ['--raw', '--tls-verify=false']);
  assert.deepEqual((index['manifests'] as { platform: { architecture: string } }[]).map((m) => m.platform.architecture), ['amd64', 'arm64']);
  for (const arch of ['amd64', 'arm64']) {
    const config = await skopeoConfig(`docker://${destination}`, ['--tls-verify=false', `--override-arch=${arch}`]);
    assert.equal(config['architecture'], arch);
    const info = await skopeoInspect(`docker://${destination}`, ['--tls-verify=false', `--override-arch=${arch}`]);
    assert.equal((info['Layers'] as unknown[]).length, 1, `${arch}: FROM scratch + one COPY`);
  }
});
