// Validating parsers for manifests, indexes, configs and descriptors that come from outside.
// Input is `unknown`; anything malformed throws BuildError('INVALID_JSON', '<what>: <field> must be ...').
import { BuildError } from '../errors.ts';
import { isDigest } from './digest.ts';
import { MediaTypes } from './types.ts';
import type { ConfigFile, Descriptor, IndexManifest, Manifest, Platform } from './types.ts';

type Obj = Record<string, unknown>;

function fail(what: string, field: string, must: string): never {
  throw new BuildError('INVALID_JSON', `${what}: ${field} must be ${must}`);
}

function isObj(u: unknown): u is Obj {
  return typeof u === 'object' && u !== null && !Array.isArray(u);
}

function obj(u: unknown, what: string, field: string): Obj {
  if (!isObj(u)) fail(what, field, 'an object');
  return u;
}

function optString(o: Obj, key: string, what: string, prefix: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(what, prefix + key, 'a string');
  return v;
}

function optStringArray(v: unknown, what: string, field: string): readonly string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail(what, field, 'an array of strings');
  return v as string[];
}

function optStringMap(v: unknown, what: string, field: string): Readonly<Record<string, string>> | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v) || !Object.values(v).every((s) => typeof s === 'string')) fail(what, field, 'an object of strings');
  return v as Record<string, string>;
}

export function parseJson(bytes: Uint8Array | string, what: string): unknown {
  const text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8').decode(bytes);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BuildError('INVALID_JSON', `${what}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

export function parsePlatform(u: unknown, what: string, prefix = 'platform'): Platform {
  const o = obj(u, what, prefix);
  const architecture = o['architecture'];
  const os = o['os'];
  if (typeof architecture !== 'string' || architecture === '') fail(what, `${prefix}.architecture`, 'a non-empty string');
  if (typeof os !== 'string' || os === '') fail(what, `${prefix}.os`, 'a non-empty string');
  const variant = optString(o, 'variant', what, `${prefix}.`);
  const osVersion = optString(o, 'os.version', what, `${prefix}.`);
  const osFeatures = optStringArray(o['os.features'], what, `${prefix}.os.features`);
  return {
    architecture,
    os,
    ...(variant !== undefined ? { variant } : {}),
    ...(osVersion !== undefined ? { 'os.version': osVersion } : {}),
    ...(osFeatures !== undefined ? { 'os.features': osFeatures } : {}),
  };
}

export function parseDescriptor(u: unknown, what: string, prefix = 'descriptor'): Descriptor {
  const o = obj(u, what, prefix);
  const mediaType = o['mediaType'];
  const digest = o['digest'];
  const size = o['size'];
  if (typeof mediaType !== 'string' || mediaType === '') fail(what, `${prefix}.mediaType`, 'a non-empty string');
  if (!isDigest(digest)) fail(what, `${prefix}.digest`, 'a digest (sha256:<64 hex>)');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail(what, `${prefix}.size`, 'a non-negative integer');
  const urls = optStringArray(o['urls'], what, `${prefix}.urls`);
  const annotations = optStringMap(o['annotations'], what, `${prefix}.annotations`);
  const platform = o['platform'] === undefined ? undefined : parsePlatform(o['platform'], what, `${prefix}.platform`);
  return {
    mediaType,
    digest,
    size,
    ...(urls !== undefined ? { urls } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    ...(platform !== undefined ? { platform } : {}),
  };
}

function checkSchemaVersion(o: Obj, what: string): void {
  if (o['schemaVersion'] !== 2) fail(what, 'schemaVersion', '2');
}

export function parseManifest(u: unknown, what: string): Manifest {
  const o = obj(u, what, 'manifest');
  checkSchemaVersion(o, what);
  const mediaType = optString(o, 'mediaType', what, '');
  const layers = o['layers'];
  if (!Array.isArray(layers)) fail(what, 'layers', 'an array');
  const annotations = optStringMap(o['annotations'], what, 'annotations');
  return {
    schemaVersion: 2,
    ...(mediaType !== undefined ? { mediaType } : {}),
    config: parseDescriptor(o['config'], what, 'config'),
    layers: layers.map((l: unknown, i) => parseDescriptor(l, what, `layers[${i}]`)),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

export function parseIndexManifest(u: unknown, what: string): IndexManifest {
  const o = obj(u, what, 'index');
  checkSchemaVersion(o, what);
  const mediaType = optString(o, 'mediaType', what, '');
  const manifests = o['manifests'];
  if (!Array.isArray(manifests)) fail(what, 'manifests', 'an array');
  const annotations = optStringMap(o['annotations'], what, 'annotations');
  return {
    schemaVersion: 2,
    ...(mediaType !== undefined ? { mediaType } : {}),
    manifests: manifests.map((m: unknown, i) => parseDescriptor(m, what, `manifests[${i}]`)),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

function checkOptArrayOrNull(v: unknown, what: string, field: string): void {
  if (v === null) return;
  optStringArray(v, what, field);
}

/**
 * Validates the fields we use and returns the parsed object itself, so JSON.stringify of the result
 * keeps every field the producer wrote (container_config, docker_version, ...).
 */
export function parseConfigFile(u: unknown, what: string): ConfigFile {
  const o = obj(u, what, 'config file');
  if (typeof o['architecture'] !== 'string') fail(what, 'architecture', 'a string');
  if (typeof o['os'] !== 'string') fail(what, 'os', 'a string');
  optString(o, 'variant', what, '');
  optString(o, 'created', what, '');
  optString(o, 'author', what, '');
  const rootfs = obj(o['rootfs'], what, 'rootfs');
  if (rootfs['type'] !== 'layers') fail(what, 'rootfs.type', '"layers"');
  const diffIds = rootfs['diff_ids'];
  if (diffIds === undefined || diffIds === null) {
    rootfs['diff_ids'] = []; // some producers omit it for zero-layer images
  } else if (!Array.isArray(diffIds)) {
    fail(what, 'rootfs.diff_ids', 'an array');
  } else {
    diffIds.forEach((d: unknown, i) => {
      if (!isDigest(d)) fail(what, `rootfs.diff_ids[${i}]`, 'a digest (sha256:<64 hex>)');
    });
  }
  if (o['config'] === undefined || o['config'] === null) {
    o['config'] = {}; // FROM scratch configs written by some tools have no config
  }
  const cfg = obj(o['config'], what, 'config');
  optString(cfg, 'User', what, 'config.');
  optString(cfg, 'WorkingDir', what, 'config.');
  optString(cfg, 'StopSignal', what, 'config.');
  optStringArray(cfg['Env'] ?? undefined, what, 'config.Env');
  checkOptArrayOrNull(cfg['Entrypoint'], what, 'config.Entrypoint');
  checkOptArrayOrNull(cfg['Cmd'], what, 'config.Cmd');
  checkOptArrayOrNull(cfg['OnBuild'], what, 'config.OnBuild');
  optStringArray(cfg['Shell'] ?? undefined, what, 'config.Shell');
  optStringMap(cfg['Labels'] ?? undefined, what, 'config.Labels');
  for (const key of ['ExposedPorts', 'Volumes']) {
    const v = cfg[key];
    if (v !== undefined && v !== null && !isObj(v)) fail(what, `config.${key}`, 'an object');
  }
  const history = o['history'];
  if (history !== undefined && history !== null) {
    if (!Array.isArray(history)) fail(what, 'history', 'an array');
    history.forEach((h: unknown, i) => {
      const ho = obj(h, what, `history[${i}]`);
      for (const k of ['created', 'created_by', 'author', 'comment']) optString(ho, k, what, `history[${i}].`);
      if (ho['empty_layer'] !== undefined && typeof ho['empty_layer'] !== 'boolean') {
        fail(what, `history[${i}].empty_layer`, 'a boolean');
      }
    });
  }
  return o as unknown as ConfigFile;
}

/** Whether a manifest document is a single image or an index/manifest list. */
export function manifestKind(u: unknown, contentType?: string): 'image' | 'index' {
  const mt = isObj(u) && typeof u['mediaType'] === 'string' ? u['mediaType'] : contentType;
  if (mt === MediaTypes.ociIndex || mt === MediaTypes.dockerManifestList) return 'index';
  if (mt === MediaTypes.ociManifest || mt === MediaTypes.dockerManifest) return 'image';
  if (isObj(u) && Array.isArray(u['manifests'])) return 'index';
  return 'image';
}
