// Issue 15 items 3 and 4 end to end: --sbom / --attest type=sbom / --provenance push an index holding the image manifest
// and an attestation manifest in BuildKit's layout, checked from outside with skopeo; the statements read back from the registry.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry } from '../support/registry-server.ts';
import { skopeoInspect } from '../support/run-image.ts';
import { commitFiles, initWorkTree, publishBare, startGitServer } from '../support/git-server.ts';

const tls = ['--tls-verify=false'];

interface Desc { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string }; annotations?: Record<string, string> }

/** The index's attestation manifest and its statements, read from the registry. */
async function attestationsOf(host: string, repo: string, tag: string): Promise<{ image: Desc; att: Desc; layers: Desc[]; statements: Record<string, any>[] }> {
  const index = await skopeoInspect(`docker://${host}/${repo}:${tag}`, ['--raw', ...tls]);
  const all = index['manifests'] as Desc[];
  const att = all.find((d) => d.platform?.os === 'unknown');
  const image = all.find((d) => d.digest === att?.annotations?.['vnd.docker.reference.digest']);
  assert.ok(image !== undefined && att !== undefined);
  const m = await skopeoInspect(`docker://${host}/${repo}@${att.digest}`, ['--raw', ...tls]);
  const layers = m['layers'] as Desc[];
  const statements = await Promise.all(layers.map(async (l) => (await fetch(`http://${host}/v2/${repo}/blobs/${l.digest}`)).json() as Promise<Record<string, any>>));
  return { image, att, layers, statements };
}

describe('SBOM and provenance attestations', () => {
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

  test('--sbom --provenance=mode=max: one attestation manifest with SPDX then SLSA v0.2; materials, args, Dockerfile, steps; no secret value', async () => {
    const ctx = join(work, 'ctx-prov');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `ARG BASE\nFROM $BASE\nARG GREETING\nRUN --mount=type=secret,id=token cat /run/secrets/token > /dev/null && echo $GREETING > /g\n`);
    const run = await runExecutor([`--context=dir://${ctx}`, `--destination=${registry.host}/prov:latest`, '--sbom', '--provenance=mode=max',
      `--build-arg=BASE=${registry.host}/busybox:latest`, '--build-arg=GREETING=hello', '--secret=id=token,env=TOKEN_VALUE',
      `--root-dir=${join(work, 'root-prov')}`, '--insecure', '--insecure-pull', '--log-format=text'], { env: { TOKEN_VALUE: 's3cr3t-t0ken-value' } });
    assert.equal(run.code, 0, run.stderr);
    const { image, layers, statements } = await attestationsOf(registry.host, 'prov', 'latest');
    assert.deepEqual(layers.map((l) => l.annotations?.['in-toto.io/predicate-type']), ['https://spdx.dev/Document', 'https://slsa.dev/provenance/v0.2']);
    const prov = statements[1] ?? {};
    assert.equal(prov['predicateType'], 'https://slsa.dev/provenance/v0.2');
    assert.equal(prov['subject'][0].digest.sha256, image.digest.slice(7));
    const p = prov['predicate'];
    assert.equal(p.buildType, 'https://mobyproject.org/buildkit@v1');
    assert.equal(typeof p.builder.id, 'string');
    assert.deepEqual(p.invocation.parameters.args, { 'build-arg:BASE': `${registry.host}/busybox:latest`, 'build-arg:GREETING': 'hello' });
    assert.deepEqual(p.invocation.parameters.secrets, [{ id: 'token', optional: false }]);
    assert.equal(p.invocation.configSource.entryPoint, 'Dockerfile');
    // The base's resolved manifest digest, as the registry serves it.
    const res = await fetch(`http://${registry.host}/v2/busybox/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
    const busyboxDigest = createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
    assert.deepEqual(p.materials, [{ uri: `pkg:docker/${registry.host}/busybox@latest?platform=linux%2Famd64`, digest: { sha256: busyboxDigest } }]);
    assert.ok(Date.parse(p.metadata.buildStartedOn) <= Date.parse(p.metadata.buildFinishedOn));
    const meta = p.metadata['https://mobyproject.org/buildkit@v1#metadata'];
    assert.match(Buffer.from(meta.source.infos[0].data, 'base64').toString(), /RUN --mount=type=secret,id=token/);
    assert.deepEqual(p.buildConfig.steps.map((s: { line: number; cached: boolean }) => [s.line, s.cached]), [[3, false], [4, false]]);
    assert.match(p.buildConfig.steps[1].layer, /^sha256:/);
    assert.equal(JSON.stringify(statements).includes('s3cr3t-t0ken-value'), false);
  });

  test('--attest type=provenance (min) from a git context: the git URL and commit, no Dockerfile or steps', async () => {
    const projects = join(work, 'git-projects');
    const wt = join(work, 'git-wt');
    await mkdir(projects, { recursive: true });
    await initWorkTree(wt);
    const commit = await commitFiles(wt, { Dockerfile: `FROM ${registry.host}/busybox:latest\nCOPY a.txt /a.txt\n`, 'a.txt': 'a\n' }, 'one');
    await publishBare(wt, projects, 'repo');
    const git = await startGitServer({ projectRoot: projects });
    try {
      const run = await runExecutor([`--context=git://${git.host}/repo.git`, `--destination=${registry.host}/prov-git:latest`, '--attest=type=provenance',
        `--root-dir=${join(work, 'root-prov-git')}`, '--insecure', '--insecure-pull', '--log-format=text'], { env: { GIT_PULL_METHOD: 'http' } });
      assert.equal(run.code, 0, run.stderr);
      const { layers, statements } = await attestationsOf(registry.host, 'prov-git', 'latest');
      assert.equal(layers.length, 1);
      const p = statements[0]?.['predicate'];
      assert.deepEqual(p.invocation.configSource, { uri: `http://${git.host}/repo.git`, digest: { sha1: commit }, entryPoint: 'Dockerfile' });
      assert.deepEqual(p.materials.at(-1), { uri: `http://${git.host}/repo.git`, digest: { sha1: commit } });
      assert.deepEqual(p.metadata['https://mobyproject.org/buildkit@v1#metadata'].vcs, { source: `http://${git.host}/repo.git`, revision: commit });
      assert.equal(p.buildConfig, undefined);
      assert.equal(p.metadata['https://mobyproject.org/buildkit@v1#metadata'].source, undefined);
    } finally { await git.close(); }
  });

  test('two platforms with --sbom: an attestation manifest per platform after the images; --metadata-file and --oci-layout-path name the index', async () => {
    const ctx = join(work, 'ctx-multi');
    await mkdir(join(ctx, 'node_modules', 'left-pad'), { recursive: true });
    await writeFile(join(ctx, 'node_modules', 'left-pad', 'package.json'), '{"name":"left-pad","version":"1.3.0"}');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY node_modules /node_modules\n');
    const run = await runExecutor([`--context=dir://${ctx}`, `--destination=${registry.host}/multi-sbom:latest`, '--sbom', '--platform=linux/amd64,linux/arm64',
      `--metadata-file=${join(work, 'multi-meta.json')}`, `--oci-layout-path=${join(work, 'multi-oci')}`,
      `--root-dir=${join(work, 'root-multi')}`, '--insecure', '--insecure-pull', '--log-format=text']);
    assert.equal(run.code, 0, run.stderr);
    const index = await skopeoInspect(`docker://${registry.host}/multi-sbom:latest`, ['--raw', ...tls]);
    const m = index['manifests'] as Desc[];
    assert.deepEqual(m.map((d) => `${d.platform?.os}/${d.platform?.architecture}`), ['linux/amd64', 'linux/arm64', 'unknown/unknown', 'unknown/unknown']);
    assert.deepEqual(m.slice(2).map((d) => d.annotations?.['vnd.docker.reference.digest']), m.slice(0, 2).map((d) => d.digest));
    const first = await attestationsOf(registry.host, 'multi-sbom', 'latest');
    assert.equal(first.statements[0]?.['predicate'].packages[0].name, 'left-pad');
    assert.equal(first.statements[0]?.['subject'][0].name, `pkg:docker/${registry.host}/multi-sbom@latest?platform=linux%2Famd64`);
    const meta = JSON.parse(await readFile(join(work, 'multi-meta.json'), 'utf8')) as Record<string, any>;
    assert.equal(meta['containerimage.descriptor'].mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(meta['image.name'], `${registry.host}/multi-sbom:latest`);
    const layout = JSON.parse(await readFile(join(work, 'multi-oci', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(layout.manifests[0]?.digest, meta['containerimage.digest']);
  });
});
