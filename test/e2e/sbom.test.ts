// Issue 15 item 3 end to end: --sbom / --attest type=sbom push an index holding the image manifest and an attestation
// manifest in BuildKit's layout, checked from outside with skopeo; the SPDX statement read back from the registry.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry } from '../support/registry-server.ts';
import { skopeoInspect } from '../support/run-image.ts';

const tls = ['--tls-verify=false'];

interface Desc { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string }; annotations?: Record<string, string> }

describe('SBOM attestations', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let work: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-sbom-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  for (const [name, flag] of [['sbom', '--sbom'], ['attest', '--attest=type=sbom']] as const) {
    test(`${flag}: index = image manifest + attestation manifest whose SPDX lists dpkg and npm packages with purls`, async () => {
      const ctx = join(work, `ctx-${name}`);
      await mkdir(join(ctx, 'node_modules', 'left-pad'), { recursive: true });
      await writeFile(join(ctx, 'status'), 'Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n\n'
        + 'Package: coreutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9.1-1\n');
      await writeFile(join(ctx, 'node_modules', 'left-pad', 'package.json'), '{"name":"left-pad","version":"1.3.0","license":"WTFPL"}');
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${registry.host}/busybox:latest\nCOPY status /var/lib/dpkg/status\nCOPY node_modules /app/node_modules\nRUN echo built > /built\n`);
      const ref = `${registry.host}/sbom-${name}:latest`;
      const run = await runExecutor([`--context=dir://${ctx}`, `--destination=${ref}`, flag, `--digest-file=${join(work, `digest-${name}`)}`,
        `--root-dir=${join(work, `root-${name}`)}`, '--insecure', '--insecure-pull', '--log-format=text', '--custom-platform=linux/amd64']);
      assert.equal(run.code, 0, run.stderr);
      const index = await skopeoInspect(`docker://${ref}`, ['--raw', ...tls]);
      assert.equal(index['mediaType'], 'application/vnd.oci.image.index.v1+json');
      assert.equal((await readFile(join(work, `digest-${name}`), 'utf8')).trim().startsWith('sha256:'), true);
      const manifests = index['manifests'] as Desc[];
      assert.equal(manifests.length, 2);
      const [img, att] = manifests;
      assert.deepEqual(img?.platform, { architecture: 'amd64', os: 'linux' });
      assert.equal(img?.annotations, undefined);
      assert.deepEqual(att?.platform, { architecture: 'unknown', os: 'unknown' });
      assert.equal(att?.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.deepEqual(att?.annotations, { 'vnd.docker.reference.digest': img?.digest, 'vnd.docker.reference.type': 'attestation-manifest' });
      // skopeo picks the image, not the attestation, for linux/amd64.
      const picked = await skopeoInspect(`docker://${ref}`, ['--override-arch=amd64', '--override-os=linux', ...tls]);
      assert.equal(picked['Architecture'], 'amd64');
      assert.equal((picked['Layers'] as string[]).length > 1, true);
      const attManifest = await skopeoInspect(`docker://${registry.host}/sbom-${name}@${att?.digest}`, ['--raw', ...tls]);
      const layers = attManifest['layers'] as Desc[];
      assert.equal(layers.length, 1);
      assert.equal(layers[0]?.mediaType, 'application/vnd.in-toto+json');
      assert.deepEqual(layers[0]?.annotations, { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' });
      const res = await fetch(`http://${registry.host}/v2/sbom-${name}/blobs/${layers[0]?.digest}`);
      assert.equal(res.status, 200);
      const stmt = await res.json() as { _type: string; predicateType: string; subject: { name: string; digest: { sha256: string } }[];
        predicate: { spdxVersion: string; packages: { name: string; versionInfo: string; externalRefs: { referenceType: string; referenceLocator: string }[] }[] } };
      assert.equal(stmt._type, 'https://in-toto.io/Statement/v0.1');
      assert.equal(stmt.predicateType, 'https://spdx.dev/Document');
      assert.deepEqual(stmt.subject, [{ name: `pkg:docker/${registry.host}/sbom-${name}@latest?platform=linux%2Famd64`, digest: { sha256: img?.digest.slice(7) } }]);
      assert.equal(stmt.predicate.spdxVersion, 'SPDX-2.3');
      const purls = stmt.predicate.packages.map((p) => p.externalRefs.find((r) => r.referenceType === 'purl')?.referenceLocator).sort();
      assert.deepEqual(purls, ['pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64', 'pkg:deb/debian/coreutils@9.1-1?arch=amd64', 'pkg:npm/left-pad@1.3.0']);
    });
  }

  test('no attestation flag: a plain manifest as before; a bad --attest is one line, nothing pushed', async () => {
    const ctx = join(work, 'ctx-plain');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${registry.host}/busybox:latest\nRUN echo hi > /hi\n`);
    const ok = await runExecutor([`--context=dir://${ctx}`, `--destination=${registry.host}/plain:latest`, `--root-dir=${join(work, 'root-plain')}`,
      '--insecure', '--insecure-pull', '--log-format=text']);
    assert.equal(ok.code, 0, ok.stderr);
    const raw = await skopeoInspect(`docker://${registry.host}/plain:latest`, ['--raw', ...tls]);
    assert.notEqual(raw['mediaType'], 'application/vnd.oci.image.index.v1+json');
    const bad = await runExecutor([`--context=dir://${ctx}`, `--destination=${registry.host}/bad:latest`, `--root-dir=${join(work, 'root-bad')}`,
      '--insecure', '--insecure-pull', '--log-format=text', '--attest=type=spdx']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--attest "type=spdx": unknown type "spdx"/);
    const res = await fetch(`http://${registry.host}/v2/bad/tags/list`);
    assert.notEqual(res.status, 200);
  });
});
