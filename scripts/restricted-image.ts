// The Restricted variant of an executor image (issue 19 item 4): the same files, every entry owned by the build user
// (default 1000:1000), the root directory itself included (a './' entry: containerd gives the container's '/' the
// owner of the image's root), and USER 1000:1000. In a Pod under Pod Security Standards "Restricted" the executor then
// builds in '/' of its own container as that uid, RUN under the fake-root supervisor.
//   node scripts/restricted-image.ts SRC DEST [--uid 1000] [--gid 1000] [--insecure]
// e.g. SRC registry.example.com/kaniko-ts/executor:TAG  DEST registry.example.com/kaniko-ts/executor:TAG-restricted
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import * as tar from 'tar-stream';
import { defaultKeychain } from '../src/auth/index.ts';
import { emptyImage } from '../src/oci/empty.ts';
import type { Image } from '../src/oci/image.ts';
import { layerFromTarWriter } from '../src/oci/layer.ts';
import { appendLayers, withConfigFile } from '../src/oci/mutate.ts';
import { RegistryClient } from '../src/registry/client.ts';
import { parseReference } from '../src/registry/reference.ts';
import { remoteImage, writeImage, type RemoteOptions } from '../src/registry/remote.ts';

export interface RestrictedOptions { readonly uid: number; readonly gid: number; readonly workDir: string }

/** `src` with every layer entry owned by uid:gid, a './' entry first, and User uid:gid. */
export async function restrictedVariant(src: Image, opts: RestrictedOptions): Promise<Image> {
  const cfg = await src.configFile();
  let img = emptyImage({ os: cfg.os, architecture: cfg.architecture, ...(cfg.variant !== undefined ? { variant: cfg.variant } : {}) });
  const history = cfg.history ?? [];
  for (const [i, layer] of (await src.layers()).entries()) {
    const { layer: rewritten } = await layerFromTarWriter(async (sink: Writable) => {
      const pack = tar.pack();
      const packed = pipeline(pack, sink);
      if (i === 0) pack.entry({ name: './', type: 'directory', mode: 0o755, uid: opts.uid, gid: opts.gid, mtime: new Date(0) });
      const extract = tar.extract();
      const source = await layer.uncompressed();
      source.pipe(extract);
      for await (const entry of extract) {
        const h = entry.header;
        if (h.name === './' || h.name === '.' || h.name === '/') { entry.resume(); continue; }
        await pipeline(entry, pack.entry({ ...h, uid: opts.uid, gid: opts.gid, uname: '', gname: '' }));
      }
      pack.finalize();
      await packed;
    }, { workDir: opts.workDir });
    img = appendLayers(img, { layer: rewritten, history: { ...(history.filter((h) => h.empty_layer !== true)[i] ?? {}), comment: 'restricted variant: owned by the build user' } });
  }
  const out = await img.configFile();
  return withConfigFile(img, { ...cfg, rootfs: out.rootfs, history: out.history ?? [], config: { ...cfg.config, User: `${opts.uid}:${opts.gid}` } });
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: {
    uid: { type: 'string', default: '1000' }, gid: { type: 'string', default: '1000' }, insecure: { type: 'boolean', default: false },
  } });
  const [srcRef, destRef] = positionals;
  if (srcRef === undefined || destRef === undefined) {
    console.error('usage: node scripts/restricted-image.ts SRC DEST [--uid 1000] [--gid 1000] [--insecure]');
    process.exit(2);
  }
  const src = parseReference(srcRef);
  const dest = parseReference(destRef);
  const opts: RemoteOptions = {
    keychain: defaultKeychain({ configDir: process.env['DOCKER_CONFIG'] ?? join(homedir(), '.docker'), env: process.env }), insecureRegistries: new Set(values.insecure ? [src.registry, dest.registry] : []), skipTlsVerifyRegistries: new Set(),
    certificates: new Map(), clientCerts: new Map(), retries: 2, userAgent: 'kaniko-ts restricted-image', log: pino({ level: 'warn' }),
  };
  const client = new RegistryClient(opts);
  const workDir = await mkdtemp(join(tmpdir(), 'restricted-image-'));
  try {
    const variant = await restrictedVariant(await remoteImage(src, { ...opts, client }), { uid: Number(values.uid), gid: Number(values.gid), workDir });
    const digest = await writeImage(dest, variant, { ...opts, client });
    console.log(`${destRef}@${digest}`);
  } finally {
    await client.close();
    await rm(workDir, { recursive: true, force: true });
  }
}
