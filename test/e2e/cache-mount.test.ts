// --cache on a miss: the new layer goes to the cache repository and to the destination, one registry, one upload;
// the other repository mounts it (issue 18 item 4).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { runImage } from '../support/run-image.ts';

let registry: TestRegistry;
let work: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'e2e-cache-mount-'));
  await pushBusyboxBase(`${registry.host}/busybox:latest`);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('a layer built on a cache miss is uploaded once and mounted into the other repository', async () => {
  const ctx = join(work, 'ctx');
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), `FROM ${registry.host}/busybox:latest\nRUN head -c 300000 /dev/urandom > /blob && echo made\nCMD ["echo", "ok"]\n`);
  const run = await runExecutor([`--context=dir://${ctx}`, `--destination=${registry.host}/app:latest`, `--cache-repo=${registry.host}/app/cache`,
    '--cache', `--root-dir=${join(work, 'root')}`, '--insecure', '--insecure-pull', '--log-format=json', '--verbosity=debug']);
  assert.equal(run.code, 0, run.stderr);
  const records = run.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; digest?: string; size?: number });
  const layerDigest = records.find((r) => r.msg === 'Layer snapshot')?.digest;
  assert.ok(layerDigest !== undefined, 'the RUN made a layer');
  const uploads = records.filter((r) => r.msg === 'Uploaded blob' && r.digest === layerDigest);
  const mounts = records.filter((r) => r.msg === 'Mounted blob' && r.digest === layerDigest);
  assert.equal(uploads.length, 1, 'uploaded once');
  assert.equal(mounts.length, 1, 'mounted into the other repository');
  assert.equal((await runImage(`docker://${registry.host}/app:latest`)).stdout, 'ok\n');
});
