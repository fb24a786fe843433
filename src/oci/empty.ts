// The FROM scratch image: no layers, a config carrying only the platform.
import { imageFromParts, partsFromObjects, type ManifestDraft } from './image-from-parts.ts';
import type { Image } from './image.ts';
import { MediaTypes, type ConfigFile, type Platform } from './types.ts';

export function emptyImage(platform: Platform): Image {
  return imageFromParts(async () => {
    const config: ConfigFile = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
      ...(platform['os.version'] !== undefined ? { 'os.version': platform['os.version'] } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    };
    const manifest: ManifestDraft = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: { mediaType: MediaTypes.dockerConfig },
      layers: [],
    };
    return partsFromObjects(manifest, config, []);
  });
}
