// Issue 15 items 1 and 6: --platform with several platforms builds once per platform and pushes one OCI index;
// a RUN for a platform the host cannot execute fails before any work; --annotation lands where its prefix says.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pushBusyboxBase } from '../support/busybox-base.ts';
import { runExecutor } from '../support/executor-process.ts';
import { startRegistry } from '../support/registry-server.ts';
import { skopeoConfig, skopeoInspect, skopeoRaw } from '../support/run-image.ts';
import { createHash } from 'node:crypto';

const tls = ['--tls-verify=false'];

async function fetchJson(url: string, accept: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { headers: { accept } });
  assert.equal(res.status, 200, url);
  return await res.json() as Record<string, unknown>;
}

describe('multi-platform builds', () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let work: string;
  const ctx = async (name: string, dockerfile: string): Promise<string> => {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    await writeFile(join(dir, 'hello.txt'), 'hello\n');
    return dir;
  };
  const common = (name: string): string[] => [`--root-dir=${join(work, `root-${name}`)}`, '--insecure', '--insecure-pull', '--log-format=text'];

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    work = await mkdtemp(join(tmpdir(), 'e2e-multi-'));
    await pushBusyboxBase(`${registry.host}/busybox:latest`);
  });
  after(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('a FROM scratch + COPY image for two platforms is one index with a manifest per platform', async () => {
    const dir = await ctx('scratch', 'FROM scratch\nARG TARGETARCH\nCOPY hello.txt /hello-$TARGETARCH\n');
    const run = await runExecutor([
      `--context=dir://${dir}`, `--destination=${registry.host}/base:multi`, '--platform=linux/amd64,linux/arm64',
      `--digest-file=${join(work, 'digest')}`, `--oci-layout-path=${join(work, 'oci')}`,
      '--annotation=index:org.opencontainers.image.title=multi', '--annotation=manifest[linux/arm64]:arch.only=arm',
      '--annotation=manifest-descriptor:desc=yes', '--annotation=index-descriptor:layout.entry=yes', ...common('scratch'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const digest = (await readFile(join(work, 'digest'), 'utf8')).trim();
    const index = await fetchJson(`http://${registry.host}/v2/base/manifests/multi`, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index['mediaType'], 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index['annotations'], { 'org.opencontainers.image.title': 'multi' });
    const manifests = index['manifests'] as { digest: string; platform: { architecture: string }; annotations?: Record<string, string> }[];
    assert.deepEqual(manifests.map((m) => m.platform.architecture), ['amd64', 'arm64']);
    assert.deepEqual(manifests[0]?.annotations, { desc: 'yes' });
    const ociIndex = JSON.parse(await readFile(join(work, 'oci', 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[] };
    assert.deepEqual(ociIndex.manifests[0]?.annotations, { 'layout.entry': 'yes' });
    assert.equal(index['annotations'] !== undefined && 'layout.entry' in (index['annotations'] as object), false);
    assert.equal(ociIndex.manifests[0]?.digest, digest);
    assert.equal(ociIndex.manifests[0]?.mediaType, 'application/vnd.oci.image.index.v1+json');
    for (const arch of ['amd64', 'arm64']) {
      const config = await skopeoConfig(`docker://${registry.host}/base:multi`, [...tls, `--override-arch=${arch}`]);
      assert.equal(config['architecture'], arch);
      const info = await skopeoInspect(`docker://${registry.host}/base:multi`, [...tls, `--override-arch=${arch}`]);
      assert.equal((info['Layers'] as unknown[]).length, 1);
    }
    const arm = manifests[1]?.digest ?? '';
    const armManifest = await fetchJson(`http://${registry.host}/v2/base/manifests/${arm}`, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(armManifest['annotations'], { 'arch.only': 'arm' });
  });

  test('FROM --platform=$BUILDPLATFORM runs RUN natively; the per-platform stage needs no emulation', async () => {
    // A multi-platform base: amd64 busybox and arm64 FROM scratch, assembled by the previous kind of build.
    const dir = await ctx('cross', [
      `FROM --platform=$BUILDPLATFORM ${registry.host}/busybox:latest AS tools`,
      'ARG TARGETPLATFORM',
      'ARG BUILDPLATFORM',
      'RUN echo "built on $BUILDPLATFORM for $TARGETPLATFORM" > /out',
      'FROM scratch',
      'COPY --from=tools /out /out',
      '',
    ].join('\n'));
    const run = await runExecutor([
      `--context=dir://${dir}`, `--destination=${registry.host}/cross:latest`, '--custom-platform=linux/amd64,linux/arm64', ...common('cross'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    for (const arch of ['amd64', 'arm64']) {
      const config = await skopeoConfig(`docker://${registry.host}/cross:latest`, [...tls, `--override-arch=${arch}`]);
      assert.equal(config['architecture'], arch);
    }
  });

  test('work shared between platforms: a $BUILDPLATFORM stage whose steps use no TARGET* argument runs once', async () => {
    const dir = await ctx('shared', [
      `FROM --platform=$BUILDPLATFORM ${registry.host}/busybox:latest AS tools`,
      'RUN cat /proc/sys/kernel/random/uuid > /stamp',
      `FROM --platform=$BUILDPLATFORM ${registry.host}/busybox:latest AS per-target`,
      'ARG TARGETARCH',
      'RUN echo "$TARGETARCH $(cat /proc/sys/kernel/random/uuid)" > /arch',
      'FROM scratch',
      'COPY --from=tools /stamp /stamp',
      'COPY --from=per-target /arch /arch',
      '',
    ].join('\n'));
    const run = await runExecutor([
      `--context=dir://${dir}`, `--destination=${registry.host}/shared:latest`, '--platform=linux/amd64,linux/arm64', ...common('shared'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr + run.stdout, /1 step\(s\) took the layer an earlier platform made/);
    // Step lines (and the summary) name the platform first, as BuildKit does.
    assert.match(run.stderr, /\[linux\/arm64 per-target 3\/3\] RUN echo/);
    const layers: string[][] = [];
    for (const arch of ['amd64', 'arm64']) {
      const info = await skopeoInspect(`docker://${registry.host}/shared:latest`, [...tls, `--override-arch=${arch}`]);
      layers.push(info['Layers'] as string[]);
    }
    // /stamp (one RUN, shared) gives the same COPY layer on both; /arch differs (its RUN reads TARGETARCH).
    assert.equal(layers[0]?.[0], layers[1]?.[0], 'the shared stage ran once');
    assert.notEqual(layers[0]?.[1], layers[1]?.[1], 'the TARGETARCH stage ran per platform');
  });

  test('--tar-path with several platforms: one tarball that is an OCI layout (the index) and a docker-save manifest', async () => {
    const dir = await ctx('tarball', 'FROM scratch\nARG TARGETARCH\nCOPY hello.txt /hello-$TARGETARCH\n');
    const tarPath = join(work, 'multi.tar');
    const run = await runExecutor([
      `--context=dir://${dir}`, `--destination=${registry.host}/tarball:v1`, '--platform=linux/amd64,linux/arm64', `--tar-path=${tarPath}`,
      '--no-push', `--digest-file=${join(work, 'tar-digest')}`, ...common('tarball'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const digest = (await readFile(join(work, 'tar-digest'), 'utf8')).trim();
    const rawText = await skopeoRaw(`oci-archive:${tarPath}`);
    assert.equal(`sha256:${createHash('sha256').update(rawText).digest('hex')}`, digest, 'the tarball holds the index of --digest-file');
    const raw = JSON.parse(rawText) as Record<string, unknown>;
    assert.equal(raw['mediaType'], 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual((raw['manifests'] as { platform: { architecture: string } }[]).map((m) => m.platform.architecture), ['amd64', 'arm64']);
    for (const arch of ['amd64', 'arm64']) {
      const config = await skopeoConfig(`oci-archive:${tarPath}`, [`--override-arch=${arch}`]);
      assert.equal(config['architecture'], arch);
    }
    // docker load (classic store) reads manifest.json: the first platform carries the tag.
    const dockerConfig = await skopeoConfig(`docker-archive:${tarPath}:${registry.host}/tarball:v1`);
    assert.equal((await skopeoConfig(`docker-archive:${tarPath}:@1`))['architecture'], 'arm64');
    assert.equal(dockerConfig['architecture'], 'amd64');
  });

  test('a RUN for a platform the host cannot execute fails before any work, naming stage, platform and fix', async () => {
    const dir = await ctx('norun', `FROM ${registry.host}/base:multi AS app\nRUN true\n`);
    const run = await runExecutor([
      `--context=dir://${dir}`, `--destination=${registry.host}/norun:latest`, '--platform=linux/amd64,linux/s390x', ...common('norun'),
    ]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /stage app runs RUN for linux\/s390x/);
    assert.match(run.stderr, /qemu-user-static|binfmt/);
    assert.doesNotMatch(run.stderr, /Building stage/);
    const res = await fetch(`http://${registry.host}/v2/norun/tags/list`);
    assert.notEqual(res.status, 200);
  });

  test('bad input: unknown platform, malformed annotation → one line, non-zero, nothing pushed', async () => {
    const dir = await ctx('bad', 'FROM scratch\nCOPY hello.txt /\n');
    for (const flag of ['--platform=linux/amd64,linux', '--annotation=novalue', '--annotation=index:k=v']) {
      const run = await runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/bad:latest`, flag, ...common('bad')]);
      assert.notEqual(run.code, 0, flag);
      assert.match(run.stderr, /--platform|--custom-platform|--annotation/, flag);
      assert.doesNotMatch(run.stderr, /\n\s+at /, flag);
    }
    const noLayout = await runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/bad:latest`, '--platform=linux/amd64,linux/arm64',
      '--annotation=index-descriptor:k=v', ...common('bad')]);
    assert.notEqual(noLayout.code, 0);
    assert.match(noLayout.stderr, /index-descriptor: annotates the entry in --oci-layout-path's index\.json/);
    const res = await fetch(`http://${registry.host}/v2/bad/tags/list`);
    assert.notEqual(res.status, 200);
  });

  test('executor index assembles images already pushed (one per architecture) into one index', async () => {
    const dir = await ctx('fanout', 'ARG BASE=scratch\nFROM ${BASE}\nCOPY hello.txt /hello.txt\n');
    const amd = await runExecutor([`--context=dir://${dir}`, `--build-arg=BASE=${registry.host}/busybox:latest`,
      `--destination=${registry.host}/fanout-amd64:v1`, '--custom-platform=linux/amd64', ...common('fan-amd')]);
    assert.equal(amd.code, 0, amd.stderr);
    const arm = await runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/fanout-arm64:v1`,
      '--custom-platform=linux/arm64', ...common('fan-arm')]);
    assert.equal(arm.code, 0, arm.stderr);
    const run = await runExecutor(['index', `--destination=${registry.host}/fanout:v1`, `--digest-file=${join(work, 'index-digest')}`,
      '--annotation=index:org.opencontainers.image.version=1', '--insecure', '--insecure-pull', '--log-format=text',
      `${registry.host}/fanout-amd64:v1`, `${registry.host}/fanout-arm64:v1`]);
    assert.equal(run.code, 0, run.stderr);
    const index = await fetchJson(`http://${registry.host}/v2/fanout/manifests/v1`, 'application/vnd.oci.image.index.v1+json');
    const digest = (await readFile(join(work, 'index-digest'), 'utf8')).trim();
    assert.match(digest, /^sha256:/);
    assert.deepEqual(index['annotations'], { 'org.opencontainers.image.version': '1' });
    const manifests = index['manifests'] as { platform: { architecture: string; variant?: string } }[];
    assert.deepEqual(manifests.map((m) => m.platform.architecture), ['amd64', 'arm64']);
    for (const arch of ['amd64', 'arm64']) {
      const config = await skopeoConfig(`docker://${registry.host}/fanout:v1`, [...tls, `--override-arch=${arch}`]);
      assert.equal(config['architecture'], arch);
      const src = await skopeoInspect(`docker://${registry.host}/fanout-${arch}:v1`, tls);
      // The source images are in the index unchanged (skopeo inspect reports the index's own digest for the tag).
      assert.ok((index['manifests'] as { digest: string }[]).some((m) => m.digest === src['Digest']), arch);
      const dst = await skopeoInspect(`docker://${registry.host}/fanout:v1`, [...tls, `--override-arch=${arch}`]);
      assert.equal(dst['Digest'], digest);
    }
  });

  test('executor index merges a source that is an index (attestation manifests kept); a platform twice is refused', async () => {
    const dir = await ctx('sbom-src', 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    const sbom = await runExecutor([`--context=dir://${dir}`, `--destination=${registry.host}/sbom-src:v1`, '--custom-platform=linux/amd64', '--sbom', ...common('sbom-src')]);
    assert.equal(sbom.code, 0, sbom.stderr);
    const source = await fetchJson(`http://${registry.host}/v2/sbom-src/manifests/v1`, 'application/vnd.oci.image.index.v1+json');
    const run = await runExecutor(['index', `--destination=${registry.host}/merged:v1`, '--insecure', '--insecure-pull', '--log-format=text',
      `${registry.host}/sbom-src:v1`, `${registry.host}/fanout-arm64:v1`]);
    assert.equal(run.code, 0, run.stderr);
    const merged = await fetchJson(`http://${registry.host}/v2/merged/manifests/v1`, 'application/vnd.oci.image.index.v1+json');
    const list = merged['manifests'] as { digest: string; platform: { os: string; architecture: string }; annotations?: Record<string, string> }[];
    assert.deepEqual(list.map((m) => `${m.platform.os}/${m.platform.architecture}`), ['linux/amd64', 'linux/arm64', 'unknown/unknown']);
    const sourceList = source['manifests'] as { digest: string }[];
    assert.equal(list[0]?.digest, sourceList[0]?.digest, 'the image is the source\'s, unchanged');
    assert.equal(list[2]?.digest, sourceList[1]?.digest, 'the attestation manifest is kept');
    assert.equal(list[2]?.annotations?.['vnd.docker.reference.digest'], list[0]?.digest);
    const attestation = await fetch(`http://${registry.host}/v2/merged/manifests/${list[2]?.digest ?? ''}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(attestation.status, 200, 'the attestation manifest was pushed into the destination repository');

    const twice = await runExecutor(['index', `--destination=${registry.host}/notimage:v1`, '--insecure', '--insecure-pull', '--log-format=text',
      `${registry.host}/busybox:latest`, `${registry.host}/base:multi`]);
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, /platform linux\/amd64 appears twice in the index/);
    assert.doesNotMatch(twice.stderr, /\n\s+at /);
    const res = await fetch(`http://${registry.host}/v2/notimage/tags/list`);
    assert.notEqual(res.status, 200);
  });
});
