// --sbom in container mode: the executor scans '/', which also holds its own runtime (/kaniko, with Node and its
// node_modules), /proc, /dev and the context: only the image's packages may be listed.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleKanikoDir } from '../../scripts/assemble-kaniko-dir.ts';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runContained, writeContainerWrapper } from '../support/container-mode.ts';
import { startRegistry, type TestRegistry } from '../support/registry-server.ts';
import { skopeoInspect } from '../support/run-image.ts';

let registry: TestRegistry;
let work: string;
let root: string;
before(async () => {
  registry = await startRegistry({ auth: 'none' });
  work = await mkdtemp(join(tmpdir(), 'container-sbom-'));
  root = join(work, 'R');
  await Promise.all([pushBusyboxBase(`${registry.host}/busybox:latest`), assembleKanikoDir(root)]);
});
after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

test('container mode --sbom: the image\'s packages only, not the executor\'s own', { timeout: 600_000 }, async () => {
  for (const d of ['workspace', 'proc', 'dev', 'tmp']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await mkdir(join(root, 'workspace', 'node_modules', 'left-pad'), { recursive: true });
  await writeFile(join(root, 'workspace', 'node_modules', 'left-pad', 'package.json'), '{"name":"left-pad","version":"1.3.0"}');
  await writeFile(join(root, 'workspace', 'status'), 'Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n');
  await writeFile(join(root, 'workspace', 'Dockerfile'), `FROM ${registry.host}/busybox:latest\nCOPY status /var/lib/dpkg/status\nCOPY node_modules /app/node_modules\n`);
  const script = join(work, 'enter-root.sh');
  await writeContainerWrapper(script);
  const destination = `${registry.host}/container-sbom:latest`;
  const run = await runContained(script, root, ['--context=dir:///workspace', `--destination=${destination}`, '--insecure', '--insecure-pull',
    '--log-format=text', '--sbom']);
  assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
  const index = await skopeoInspect(`docker://${destination}`, ['--raw', '--tls-verify=false']);
  const att = (index['manifests'] as { digest: string; platform: { os: string } }[]).find((d) => d.platform.os === 'unknown');
  assert.ok(att !== undefined);
  const m = await skopeoInspect(`docker://${registry.host}/container-sbom@${att.digest}`, ['--raw', '--tls-verify=false']);
  const layer = (m['layers'] as { digest: string }[])[0];
  const stmt = await (await fetch(`http://${registry.host}/v2/container-sbom/blobs/${layer?.digest}`)).json() as {
    predicate: { packages: { name: string; sourceInfo: string; externalRefs: { referenceLocator: string }[] }[] } };
  const found = stmt.predicate.packages.map((p) => `${p.externalRefs[0]?.referenceLocator} ${p.sourceInfo.replace(/^.*: /, '')}`).sort();
  // The context's own node_modules (/workspace) is not image content: only the copy under /app counts.
  assert.deepEqual(found, [
    'pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64 /var/lib/dpkg/status', 'pkg:npm/left-pad@1.3.0 /app/node_modules/left-pad/package.json',
  ]);
  assert.equal(found.some((f) => f.includes('/kaniko')), false);
});
