import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { dockerConfigKeychain } from '../auth/docker-config.ts';
import { anonymousKeychain, staticAuthenticator, type AuthConfig, type Keychain } from '../auth/keychain.ts';
import { BuildError } from '../errors.ts';
import { MediaTypes } from '../oci/types.ts';
import { startFaultProxy, type FaultProxy } from '../../test/support/fault-proxy.ts';
import { fixtureImage, fixtureLayer, readStream, sha256, tarEntryNames, type FixtureLayer } from '../../test/support/fixture-image.ts';
import { startRegistry, type TestRegistry } from '../../test/support/registry-server.ts';
import { RegistryClient } from './client.ts';
import type { ProgressEvent } from '../progress/events.ts';
import type { RegistryOptions } from './options.ts';
import { parseReference } from './reference.ts';
import { RegistryError } from './registry-error.ts';
import { remoteImage, remoteImageWithMirrors, writeImage } from './remote.ts';

const USER = { user: 'tester', pass: 'S3cret-Pa55word' };

function options(hosts: readonly string[], keychain: Keychain, extra: Partial<RegistryOptions> = {}): RegistryOptions {
  return {
    keychain,
    insecureRegistries: new Set(hosts),
    skipTlsVerifyRegistries: new Set(),
    certificates: new Map(),
    clientCerts: new Map(),
    retries: 0,
    backoff: () => 10,
    userAgent: 'kaniko-ts-test',
    log: pino({ level: 'silent' }),
    ...extra,
  };
}

const creds = (auth: AuthConfig): Keychain => ({ resolve: async () => staticAuthenticator(auth) });

async function pushAndPull(reg: TestRegistry, keychain: Keychain, repo: string): Promise<void> {
  const layers = [await fixtureLayer([{ name: 'etc/hello', content: 'hello' }]), await fixtureLayer([{ name: 'bin/x', content: repo }])];
  const img = await fixtureImage(layers);
  const opts = options([reg.host], keychain);
  const ref = parseReference(`${reg.host}/${repo}:v1`);
  const digest = await writeImage(ref, img, opts);
  assert.equal(digest, await img.digest());

  const pulled = await remoteImage(ref, opts);
  assert.equal(await pulled.digest(), digest);
  assert.deepEqual(await pulled.configFile(), await img.configFile());
  const pulledLayers = await pulled.layers();
  assert.equal(pulledLayers.length, 2);
  const first = pulledLayers[0];
  assert.ok(first !== undefined);
  assert.equal(await first.diffId(), await layers[0]?.diffId());
  assert.deepEqual(await tarEntryNames(await readStream(await first.compressed())), ['etc/hello']);
  assert.deepEqual(await readStream(await first.uncompressed()), layers[0]?.tarBytes);
}

describe('registry client against docker-registry', () => {
  const started: { stop(): Promise<void> }[] = [];
  let plain: TestRegistry;
  let basic: TestRegistry;
  let token: TestRegistry;
  let tmp: string;

  before(async () => {
    [plain, basic, token] = await Promise.all([
      startRegistry({ auth: 'none', relativeUrls: true }),
      startRegistry({ auth: 'htpasswd', users: [USER] }),
      startRegistry({ auth: 'token', users: [USER] }),
    ]);
    started.push(plain, basic, token);
    tmp = await mkdtemp(join(tmpdir(), 'registry-test-'));
  });
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
    await rm(tmp, { recursive: true, force: true });
  });

  it('pushes and pulls without auth (relative Location headers)', async () => {
    await pushAndPull(plain, anonymousKeychain, 'plain/app');
  });

  it('pushes and pulls with htpasswd Basic auth', async () => {
    await pushAndPull(basic, creds({ username: USER.user, password: USER.pass }), 'basic/app');
  });

  it('pushes and pulls with token auth', async () => {
    await pushAndPull(token, creds({ username: USER.user, password: USER.pass }), 'token/app');
    const issued = token.tokenIssuer?.log ?? [];
    assert.ok(issued.some((t) => t.scopes.includes('repository:token/app:pull,push') && t.user === USER.user));
  });

  it('exchanges an identity token with the OAuth2 POST form', async () => {
    token.tokenIssuer?.refreshTokens.set('refresh-abc', USER.user);
    await pushAndPull(token, creds({ identityToken: 'refresh-abc' }), 'token/oauth');
    assert.ok(token.tokenIssuer?.log.some((t) => t.method === 'POST' && t.status === 200));
  });

  for (const kind of ['basic', 'token'] as const) {
    it(`a wrong password (${kind}) fails naming the registry, without the password`, async () => {
      const reg = kind === 'basic' ? basic : token;
      const img = await fixtureImage([await fixtureLayer([{ name: 'a', content: 'a' }])]);
      await assert.rejects(writeImage(parseReference(`${reg.host}/x/y:1`), img,
        options([reg.host], creds({ username: USER.user, password: 'wrong-Pa55' }))), (err: unknown) => {
        assert.ok(err instanceof RegistryError, String(err));
        assert.equal(err.code, 'AUTH');
        assert.match(err.message, new RegExp(`^authentication to ${reg.host.replace(/\./g, '\\.')} failed: 401 Unauthorized`));
        assert.ok(!err.message.includes('wrong-Pa55') && !err.message.includes('Basic'));
        assert.ok(!JSON.stringify(err).includes('wrong-Pa55'));
        return true;
      });
    });
  }

  it('authenticates from config.json credHelpers through the PATH seam', async () => {
    const bin = join(tmp, 'bin');
    const cfg = join(tmp, 'docker');
    await mkdir(bin, { recursive: true });
    await mkdir(cfg, { recursive: true });
    await writeFile(join(bin, 'docker-credential-test'),
      `#!/bin/sh\nread server\necho '{"Username":"${USER.user}","Secret":"${USER.pass}"}'\n`);
    await chmod(join(bin, 'docker-credential-test'), 0o755);
    await writeFile(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [token.host]: 'test' } }));
    const kc = dockerConfigKeychain({ configDir: cfg, env: { PATH: `${bin}:/usr/bin:/bin` } });
    await pushAndPull(token, kc, 'helper/app');
    // And the auths form, for the Basic registry.
    await writeFile(join(cfg, 'config.json'), JSON.stringify({
      auths: { [`http://${basic.host}`]: { auth: Buffer.from(`${USER.user}:${USER.pass}`).toString('base64') } },
    }));
    await pushAndPull(basic, dockerConfigKeychain({ configDir: cfg, env: {} }), 'auths/app');
  });

  it('resolves a manifest list by platform, and lists platforms when none matches', async () => {
    const opts = options([plain.host], anonymousKeychain);
    const client = new RegistryClient(opts);
    const amd = await fixtureImage([await fixtureLayer([{ name: 'arch', content: 'amd64' }])], { platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await fixtureImage([await fixtureLayer([{ name: 'arch', content: 'arm64' }])],
      { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const base = `${plain.host}/multi/app`;
    const amdDigest = await writeImage(parseReference(`${base}@${await amd.digest()}`), amd, { ...opts, client });
    const armDigest = await writeImage(parseReference(`${base}@${await arm.digest()}`), arm, { ...opts, client });
    const index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2, mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.ociManifest, digest: amdDigest, size: (await amd.rawManifest()).byteLength, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MediaTypes.ociManifest, digest: armDigest, size: (await arm.rawManifest()).byteLength, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    }));
    await client.putManifest(parseReference(`${base}:multi`), index, MediaTypes.ociIndex);
    const ref = parseReference(`${base}:multi`);
    const pickedArm = await remoteImage(ref, { ...opts, platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(await pickedArm.digest(), armDigest);
    const pickedAmd = await remoteImage(ref, { ...opts, platform: { os: 'linux', architecture: 'amd64' } });
    assert.equal(await pickedAmd.digest(), amdDigest);
    await assert.rejects(remoteImage(ref, { ...opts, platform: { os: 'linux', architecture: 's390x' } }),
      /no manifest for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)/);
    await client.close();
  });

  it('cross-mounts base layers instead of uploading them', async () => {
    const proxy: FaultProxy = await startFaultProxy(plain.url);
    started.push(proxy);
    const opts = options([proxy.host], anonymousKeychain);
    const baseLayer = await fixtureLayer([{ name: 'base', content: 'base layer' }]);
    await writeImage(parseReference(`${proxy.host}/mount/base:1`), await fixtureImage([baseLayer]), opts);
    const base = await remoteImage(parseReference(`${proxy.host}/mount/base:1`), opts);
    const baseLayers = await base.layers();
    const top = await fixtureLayer([{ name: 'top', content: 'app' }]);
    const derived = await fixtureImage([...baseLayers, top]);
    proxy.log.length = 0;
    await writeImage(parseReference(`${proxy.host}/mount/derived:1`), derived, opts);
    const baseDigest = await baseLayer.digest();
    assert.ok(proxy.log.some((e) => e.method === 'POST' && e.path.includes(`mount=${baseDigest}`) && e.status === 201));
    const puts = proxy.log.filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/'));
    assert.equal(puts.length, 2, 'config and the new layer only');
    assert.ok(!puts.some((e) => e.path.includes(baseDigest.slice(7))));
    assert.ok(!proxy.log.some((e) => e.method === 'GET' && e.path.includes(`/blobs/${baseDigest}`)), 'base layer never downloaded');
    // Pushing again to the same repository finds everything by HEAD.
    proxy.log.length = 0;
    await writeImage(parseReference(`${proxy.host}/mount/derived:2`), derived, opts);
    assert.ok(!proxy.log.some((e) => e.method === 'POST' || (e.method === 'PUT' && e.path.includes('/blobs/'))));
  });

  it('uploads large blobs in PATCH chunks', async () => {
    const proxy = await startFaultProxy(plain.url);
    started.push(proxy);
    const big: FixtureLayer = await fixtureLayer([{ name: 'random', content: Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 7919) % 251)) }], { gzip: false });
    const opts = options([proxy.host], anonymousKeychain, { chunkedUploadThreshold: 4096, chunkSize: 3000 });
    const ref = parseReference(`${proxy.host}/chunked/app:1`);
    await writeImage(ref, await fixtureImage([big]), opts);
    const patches = proxy.log.filter((e) => e.method === 'PATCH');
    assert.equal(patches.length, Math.ceil(big.compressedBytes.length / 3000));
    const pulled = await remoteImage(ref, opts);
    const layer = (await pulled.layers())[0];
    assert.ok(layer !== undefined);
    assert.equal(sha256(await readStream(await layer.compressed())), await big.digest());
  });

  it('reports transfers of big blobs to the progress sink: the push and the pull, each with its end', async () => {
    const events: ProgressEvent[] = [];
    const big: FixtureLayer = await fixtureLayer([{ name: 'r', content: Buffer.from(Array.from({ length: 30000 }, (_, i) => (i * 7919) % 251)) }], { gzip: false });
    const opts = options([plain.host], anonymousKeychain, { progress: (e) => events.push(e), transferMinBytes: 10000 });
    const ref = parseReference(`${plain.host}/transfer/app:1`);
    await writeImage(ref, await fixtureImage([big]), opts);
    const layer = (await (await remoteImage(ref, opts)).layers())[0];
    assert.ok(layer !== undefined);
    await readStream(await layer.compressed());
    const transfers = events.filter((e) => e.type === 'transfer');
    const digest = await big.digest();
    for (const direction of ['push', 'pull'] as const) {
      const mine = transfers.filter((t) => t.direction === direction);
      assert.ok(mine.length >= 2, `${direction}: a start and an end`);
      assert.ok(mine.every((t) => t.digest === digest && t.repository === `${plain.host}/transfer/app` && t.total === big.compressedBytes.length));
      assert.deepEqual(mine.at(-1) && { bytes: mine.at(-1)?.bytes, finished: mine.at(-1)?.finished }, { bytes: big.compressedBytes.length, finished: true });
    }
    assert.ok(!transfers.some((t) => t.total !== undefined && t.total < 10000), 'small blobs (the config) are not reported');
  });

  it('checks push permission', async () => {
    const ok = new RegistryClient(options([token.host], creds({ username: USER.user, password: USER.pass })));
    await ok.checkPushPermission({ registry: token.host, repository: 'perm/app' });
    const anon = new RegistryClient(options([token.host], anonymousKeychain));
    await assert.rejects(anon.checkPushPermission({ registry: token.host, repository: 'perm/app' }),
      (err: unknown) => err instanceof RegistryError && err.code === 'AUTH' && err.message.startsWith(`no permission to push to ${token.host}/perm/app`));
    await Promise.all([ok.close(), anon.close()]);
  });

  it('an unreachable registry is one clear line', async () => {
    await assert.rejects(remoteImage(parseReference('127.0.0.1:1/x/y'), options(['127.0.0.1:1'], anonymousKeychain)),
      (err: unknown) => {
        assert.ok(err instanceof BuildError);
        assert.equal(err.message, 'cannot reach registry 127.0.0.1:1: connection refused');
        assert.equal(err instanceof RegistryError && err.temporary, false);
        return true;
      });
  });

  it('a missing image names the reference', async () => {
    await assert.rejects(remoteImage(parseReference(`${plain.host}/no/such:tag`), options([plain.host], anonymousKeychain)),
      new RegExp(`manifest ${plain.host.replace(/\./g, '\\.')}/no/such:tag.*404 Not Found.*MANIFEST_UNKNOWN`));
  });

  it('uses a registry mirror, falling back to the original', async () => {
    const opts = options([plain.host, basic.host, '127.0.0.1:1'], creds({ username: USER.user, password: USER.pass }));
    const img = await fixtureImage([await fixtureLayer([{ name: 'm', content: 'mirror' }])]);
    await writeImage(parseReference(`${plain.host}/mirror-prefix/lib/app:1`), img, opts);
    const ref = parseReference(`${basic.host}/lib/app:1`);
    const viaMirror = await remoteImageWithMirrors(ref,
      { map: new Map([[basic.host, ['127.0.0.1:1', `${plain.host}/mirror-prefix`]]]), skipDefaultFallback: true }, opts);
    assert.equal(await viaMirror.digest(), await img.digest());
    await assert.rejects(remoteImageWithMirrors(ref, { map: new Map([[basic.host, ['127.0.0.1:1']]]), skipDefaultFallback: true }, opts),
      /not found in any mirror/);
  });
});
