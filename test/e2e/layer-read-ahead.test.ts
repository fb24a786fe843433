// Base layers read ahead (issue 18 item 3): a three-layer base pulled from the registry unpacks with layer i+1
// downloading to a file while layer i extracts; the result is the same.
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
  work = await mkdtemp(join(tmpdir(), 'e2e-read-ahead-'));
  await pushBusyboxBase(`${registry.host}/busybox:latest`);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

async function build(name: string, dockerfile: string, files: Record<string, string>, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const ctx = join(work, `ctx-${name}`);
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  for (const [f, c] of Object.entries(files)) await writeFile(join(ctx, f), c);
  return runExecutor([`--context=dir://${ctx}`, `--destination=${registry.host}/${name}:latest`, `--root-dir=${join(work, `root-${name}`)}`,
    '--insecure', '--insecure-pull', ...extra]);
}

test('a three-layer base unpacks with read-ahead', async () => {
  const base = await build('three-layers', `FROM ${registry.host}/busybox:latest\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n`,
    { 'a.txt': 'layer a\n', 'b.txt': 'layer b\n' }, ['--log-format=text']);
  assert.equal(base.code, 0, base.stderr);
  const run = await build('child', `FROM ${registry.host}/three-layers:latest\nRUN cat /a.txt /b.txt > /both\nCMD ["cat", "/both"]\n`,
    {}, ['--log-format=json', '--verbosity=debug']);
  assert.equal(run.code, 0, run.stderr);
  const records = run.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; layer?: number; readAhead?: boolean });
  const extracted = records.filter((r) => r.msg === 'Extracted layer');
  assert.deepEqual(extracted.map((r) => r.layer), [0, 1, 2]);
  // The first layer streams straight from the registry; the next ones were downloaded while the previous extracted.
  assert.deepEqual(extracted.map((r) => r.readAhead), [false, true, true]);
  assert.equal(records.filter((r) => r.msg === 'Layer read-ahead failed; streaming it').length, 0);
  assert.equal((await runImage(`docker://${registry.host}/child:latest`)).stdout, 'layer a\nlayer b\n');
});
