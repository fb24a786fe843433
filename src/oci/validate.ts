// Full consistency check of an Image (go-containerregistry's validate.Image): streams every layer.
import { BuildError } from '../errors.ts';
import { sha256Of } from './digest.ts';
import type { Image } from './image.ts';
import { digestReadable } from './layer.ts';
import { parseConfigFile, parseJson, parseManifest } from './parse.ts';

function mismatch(msg: string): BuildError {
  return new BuildError('DIGEST_MISMATCH', `invalid image: ${msg}`);
}

export async function validateImage(img: Image): Promise<void> {
  const rawManifest = await img.rawManifest();
  const manifest = parseManifest(parseJson(rawManifest, 'manifest'), 'manifest');
  const digest = await img.digest();
  if (digest !== sha256Of(rawManifest)) throw mismatch(`digest() ${digest} is not the sha256 of rawManifest()`);
  if (JSON.stringify(manifest) !== JSON.stringify(parseManifest(await img.manifest(), 'manifest()'))) {
    throw mismatch('manifest() differs from rawManifest()');
  }
  const rawConfig = await img.rawConfigFile();
  const config = parseConfigFile(parseJson(rawConfig, 'config'), 'config');
  if (manifest.config.digest !== sha256Of(rawConfig)) {
    throw mismatch(`manifest config digest ${manifest.config.digest} is not the sha256 of the config (${sha256Of(rawConfig)})`);
  }
  if (manifest.config.size !== rawConfig.byteLength) {
    throw mismatch(`manifest config size ${manifest.config.size} is not the config's size ${rawConfig.byteLength}`);
  }
  const layers = await img.layers();
  if (layers.length !== manifest.layers.length) throw mismatch(`${layers.length} layers but the manifest lists ${manifest.layers.length}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layers.length) throw mismatch(`${layers.length} layers but config has ${diffIds.length} diff_ids`);
  for (const [i, layer] of layers.entries()) {
    const desc = manifest.layers[i];
    if (desc === undefined) throw mismatch(`layer ${i} missing from manifest`);
    const what = `layer ${i} (${desc.digest})`;
    const [ldigest, lsize, lmt, ldiff] = await Promise.all([layer.digest(), layer.size(), layer.mediaType(), layer.diffId()]);
    if (ldigest !== desc.digest) throw mismatch(`${what}: Layer.digest() is ${ldigest}`);
    if (lsize !== desc.size) throw mismatch(`${what}: Layer.size() is ${lsize}, manifest says ${desc.size}`);
    if (lmt !== desc.mediaType) throw mismatch(`${what}: Layer.mediaType() is ${lmt}, manifest says ${desc.mediaType}`);
    if (ldiff !== diffIds[i]) throw mismatch(`${what}: Layer.diffId() is ${ldiff}, config says ${String(diffIds[i])}`);
    const c = await digestReadable(await layer.compressed());
    if (c.digest !== desc.digest || c.size !== desc.size) {
      throw mismatch(`${what}: compressed content is ${c.digest} (${c.size} bytes), manifest says ${desc.digest} (${desc.size} bytes)`);
    }
    const u = await digestReadable(await layer.uncompressed());
    if (u.digest !== ldiff) throw mismatch(`${what}: uncompressed content is ${u.digest}, diffId says ${ldiff}`);
  }
}
