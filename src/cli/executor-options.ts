// Turns parsed executor flags plus the environment into the typed options the build and publish steps take.
// The only place that knows kaniko's flag names, their defaults and their interplay.
import type { SecretSource, SshSource } from '../commands/command.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parsePrivateKeys } from '../sandbox/key-agent.ts';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { defaultKeychain } from '../auth/index.ts';
import type { OutputOptions } from '../pipeline/options.ts';
import { resolveContextFile } from '../context/context-file.ts';
import type { GitContextOptions } from '../context/source.ts';
import { UsageError } from '../errors.ts';
import type { Log } from '../log.ts';
import { hostPlatform, parsePlatformList, parsePlatformSpec } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import type { RegistryOptions } from '../registry/options.ts';
import type { FlagValue } from './parse-flags.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export class FlagReader {
  readonly #values: ReadonlyMap<string, FlagValue>;
  constructor(values: ReadonlyMap<string, FlagValue>) { this.#values = values; }
  string(name: string): string | undefined {
    const v = this.#values.get(name);
    return typeof v === 'string' && v !== '' ? v : undefined;
  }
  bool(name: string, fallback = false): boolean {
    const v = this.#values.get(name);
    return typeof v === 'boolean' ? v : fallback;
  }
  int(name: string, fallback = 0): number {
    const v = this.#values.get(name);
    return typeof v === 'number' ? v : fallback;
  }
  list(name: string): readonly string[] {
    const v = this.#values.get(name);
    return Array.isArray(v) ? v as readonly string[] : [];
  }
  map(name: string): ReadonlyMap<string, string> {
    const v = this.#values.get(name);
    return v instanceof Map ? v as ReadonlyMap<string, string> : new Map();
  }
}

/** `--build-arg K=V`, or a bare `K` that takes the executor's own environment value (kaniko, docker). */
export function parseBuildArgs(list: readonly string[], env: Env): Map<string, string> {
  const args = new Map<string, string>();
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid --build-arg "${item}": expected KEY=VALUE or KEY`);
    if (eq < 0) {
      const fromEnv = env[item];
      if (fromEnv !== undefined) args.set(item, fromEnv);
      continue;
    }
    args.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return args;
}

/** buildx's `--secret id=ID,src=PATH` (`source=` alias) and `--secret id=ID,env=VAR`; type=file|env may be given. */
export function parseSecrets(list: readonly string[]): Map<string, SecretSource> {
  const out = new Map<string, SecretSource>();
  for (const item of list) {
    let id = '';
    let src: string | undefined;
    let env: string | undefined;
    let type: string | undefined;
    for (const field of item.split(',')) {
      const eq = field.indexOf('=');
      const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
      const val = eq < 0 ? '' : field.slice(eq + 1);
      if (key === 'id') id = val;
      else if (key === 'src' || key === 'source') src = val;
      else if (key === 'env') env = val;
      else if (key === 'type' && (val === 'file' || val === 'env')) type = val;
      else throw new UsageError(`invalid --secret "${item}": unexpected key '${key}'`);
    }
    if (type === 'env' && env === undefined) { env = src; src = undefined; }
    if (id === '') id = env ?? (src === undefined ? '' : src.split('/').pop() ?? '');
    if (id === '' || (src === undefined) === (env === undefined)) {
      throw new UsageError(`invalid --secret "${item}": expected id=ID,src=PATH or id=ID,env=VAR`);
    }
    out.set(id, src !== undefined ? { src } : { env: env ?? '' });
  }
  return out;
}

/**
 * buildx's `--ssh default|ID[=SOCKET|KEYFILE[,KEYFILE]]`: no path (or `default`) is $SSH_AUTH_SOCK; a path that is
 * a socket is forwarded, other paths are private keys served by an agent of our own. Checked here, so a typo fails
 * before the build starts.
 */
export function parseSsh(list: readonly string[], env: Env): Map<string, SshSource> {
  const out = new Map<string, SshSource>();
  for (const item of list) {
    const eq = item.indexOf('=');
    const id = eq < 0 ? item : item.slice(0, eq);
    const paths = eq < 0 ? [] : item.slice(eq + 1).split(',').filter((p) => p !== '');
    if (id === '' || /[\s,]/u.test(id)) throw new UsageError(`invalid --ssh "${item}": expected default, ID=SOCKET or ID=KEYFILE[,KEYFILE]`);
    if (paths.length === 0) {
      const sock = env['SSH_AUTH_SOCK'] ?? '';
      if (sock === '') throw new UsageError(`invalid --ssh "${item}": SSH_AUTH_SOCK is not set (give ${id}=SOCKET or ${id}=KEYFILE)`);
      paths.push(sock);
    }
    let socket: string | undefined;
    const keys: string[] = [];
    for (const p of paths) {
      const abs = resolve(p);
      let st;
      try {
        st = statSync(abs);
      } catch (err) {
        throw new UsageError(`invalid --ssh "${item}": ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or socket' : (err as Error).message}`);
      }
      if (st.isSocket()) socket = abs;
      else if (st.isFile()) {
        try {
          parsePrivateKeys(readFileSync(abs, 'utf8'), abs);
        } catch (err) {
          throw new UsageError(`invalid --ssh "${item}": ${p}: ${(err as Error).message}`);
        }
        keys.push(abs);
      }
      else throw new UsageError(`invalid --ssh "${item}": ${p} is neither a socket nor a key file`);
    }
    if (socket !== undefined && (paths.length > 1)) throw new UsageError(`invalid --ssh "${item}": a socket cannot be combined with other paths`);
    out.set(id, socket !== undefined ? { socket } : { keys });
  }
  return out;
}

export function parseLabels(list: readonly string[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --label "${item}": expected key=value`);
    labels.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return labels;
}

/** The docker config.json directory: $DOCKER_CONFIG, else /kaniko/.docker (the image's), else ~/.docker. */
export function dockerConfigDir(env: Env, kanikoDir: string): string | undefined {
  const fromEnv = env['DOCKER_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const kaniko = join(kanikoDir, '.docker');
  if (existsSync(join(kaniko, 'config.json'))) return kaniko;
  let home = env['HOME'];
  // os.homedir() throws where HOME is unset and the user has no passwd entry (a FROM-scratch executor image).
  if (home === undefined || home === '') { try { home = homedir(); } catch { return undefined; } }
  return join(home, '.docker');
}

export function platformFrom(flags: FlagReader): Platform {
  return platformsFrom(flags)[0] ?? hostPlatform();
}

/** --custom-platform (or buildx's --platform): one platform, or a comma-separated list (an image index). */
export function platformsFrom(flags: FlagReader): Platform[] {
  const custom = flags.string('custom-platform');
  const buildx = flags.string('platform');
  if (custom !== undefined && buildx !== undefined && custom !== buildx) throw new UsageError('--platform and --custom-platform disagree: set one');
  const spec = custom ?? buildx;
  if (spec === undefined) return [hostPlatform()];
  return spec.includes(',') ? parsePlatformList(spec) : [parsePlatformSpec(spec)];
}

function splitClientCerts(map: ReadonlyMap<string, string>): Map<string, { cert: string; key: string }> {
  const out = new Map<string, { cert: string; key: string }>();
  for (const [host, value] of map) {
    const [cert, key, ...rest] = value.split(',');
    if (cert === undefined || key === undefined || rest.length > 0 || cert === '' || key === '') {
      throw new UsageError(`invalid --registry-client-cert for ${host}: expected ${host}=/path/cert.pem,/path/key.pem`);
    }
    out.set(host, { cert, key });
  }
  return out;
}

/** Registry settings for pulls or pushes: kaniko's --insecure/--skip-tls-verify flags differ by direction. */
export function registryOptions(flags: FlagReader, direction: 'pull' | 'push', deps: { env: Env; log: Log; kanikoDir: string; platform: Platform }): RegistryOptions {
  const insecure = new Set(flags.list('insecure-registry'));
  const skipTls = new Set(flags.list('skip-tls-verify-registry'));
  const allInsecure = direction === 'push' ? flags.bool('insecure') : flags.bool('insecure-pull');
  const allSkipTls = flags.bool('skip-tls-verify') || (direction === 'pull' && flags.bool('skip-tls-verify-pull'));
  return {
    keychain: defaultKeychain({ configDir: dockerConfigDir(deps.env, deps.kanikoDir), env: deps.env }),
    insecureRegistries: insecure,
    skipTlsVerifyRegistries: skipTls,
    insecureAll: allInsecure,
    skipTlsVerifyAll: allSkipTls,
    certificates: new Map(flags.map('registry-certificate')),
    clientCerts: splitClientCerts(flags.map('registry-client-cert')),
    retries: direction === 'push' ? flags.int('push-retry') : flags.int('image-download-retry'),
    userAgent: 'kaniko-ts/0.1.0',
    log: deps.log,
    platform: deps.platform,
  };
}

/** --registry-map a=b;c=d plus --registry-mirror m (sugar for index.docker.io=m), in the order given. */
export function registryMap(flags: FlagReader): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [from, to] of flags.map('registry-map')) map.set(from, to.split(';').filter((v) => v !== ''));
  const mirrors = flags.list('registry-mirror');
  if (mirrors.length > 0) map.set('index.docker.io', [...(map.get('index.docker.io') ?? []), ...mirrors]);
  return map;
}

export function outputOptions(flags: FlagReader): OutputOptions {
  const destinations = flags.list('destination');
  const noPush = flags.bool('no-push');
  // --check builds nothing, so it needs no destination.
  if (destinations.length === 0 && !noPush && !flags.bool('check')) {
    throw new UsageError('you must provide --destination, or use --no-push');
  }
  for (const name of ['digest-file', 'image-name-with-digest-file', 'image-name-tag-with-digest-file']) {
    if (flags.string(name) !== undefined && destinations.length === 0 && name !== 'digest-file') {
      throw new UsageError(`--${name} needs at least one --destination`);
    }
  }
  type PathKey = 'tarPath' | 'ociLayoutPath' | 'digestFile' | 'imageNameWithDigestFile' | 'imageNameTagWithDigestFile' | 'metadataFile';
  const optional = (name: string, key: PathKey): Partial<Record<PathKey, string>> => {
    const v = flags.string(name);
    return v === undefined ? {} : { [key]: resolve(v) };
  };
  return {
    destinations, noPush, skipPushPermissionCheck: flags.bool('skip-push-permission-check'),
    ignoreImmutableTagErrors: flags.bool('push-ignore-immutable-tag-errors'),
    ...optional('tar-path', 'tarPath'), ...optional('oci-layout-path', 'ociLayoutPath'), ...optional('digest-file', 'digestFile'),
    ...optional('image-name-with-digest-file', 'imageNameWithDigestFile'),
    ...optional('image-name-tag-with-digest-file', 'imageNameTagWithDigestFile'),
    ...optional('metadata-file', 'metadataFile'),
  } as OutputOptions;
}

/** kaniko: a relative --dockerfile is tried as given, then inside the context. */
export function resolveDockerfilePath(dockerfile: string, contextDir: string): string {
  // kaniko: a relative path is looked up as given (from the working directory), then in the context. Whatever
  // lands inside the context is resolved with symlinks scoped to it (a context's `Dockerfile -> /etc/passwd`
  // must not read the host); a file of the user's own outside the context is read as given.
  const asGiven = resolve(dockerfile);
  const file = isAbsolute(dockerfile) || existsSync(asGiven) ? asGiven : dockerfile;
  return resolveContextFile(contextDir, file, '--dockerfile');
}

/** Go's strconv.ParseBool, which kaniko uses for the boolean --git keys. */
function parseGoBool(key: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new UsageError(`invalid --git ${key}=${JSON.stringify(value)}: expected true or false`);
}

/**
 * kaniko's `--git key=value` (one key per occurrence; a comma-separated list in one value is accepted
 * too, as kaniko's docs write it): branch, single-branch, recurse-submodules, insecure-skip-tls, depth.
 */
export function parseGitOptions(list: readonly string[]): GitContextOptions {
  const out: { -readonly [K in keyof GitContextOptions]: GitContextOptions[K] } = {};
  for (const item of list.flatMap((v) => v.split(',')).filter((v) => v.trim() !== '')) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid --git "${item}": expected key=value`, { hint: 'keys: branch, single-branch, recurse-submodules, insecure-skip-tls, depth' });
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    switch (key) {
      case 'branch': out.branch = value; break;
      case 'single-branch': out.singleBranch = parseGoBool(key, value); break;
      case 'recurse-submodules': out.recurseSubmodules = parseGoBool(key, value); break;
      case 'insecure-skip-tls': out.insecureSkipTls = parseGoBool(key, value); break;
      case 'depth': {
        if (!/^\d+$/.test(value)) throw new UsageError(`invalid --git depth=${JSON.stringify(value)}: expected a whole number`);
        out.depth = Number(value);
        break;
      }
      default:
        throw new UsageError(`invalid --git key "${key}"`, { hint: 'keys: branch, single-branch, recurse-submodules, insecure-skip-tls, depth' });
    }
  }
  return out;
}
