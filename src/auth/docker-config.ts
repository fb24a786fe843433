// A Keychain backed by Docker's config.json (`auths`, `credsStore`, `credHelpers`).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../errors.ts';
import { runCredentialHelper, type HelperEnv } from './cred-helper.ts';
import { anonymous, staticAuthenticator, type AuthConfig, type Authenticator, type Keychain } from './keychain.ts';

export interface DockerConfigOptions extends HelperEnv {
  /** Directory holding config.json, resolved by the CLI ($DOCKER_CONFIG, /kaniko/.docker, ~/.docker). */
  readonly configDir: string | undefined;
}

interface DockerConfig {
  readonly auths: ReadonlyMap<string, AuthConfig>;
  readonly credsStore: string | undefined;
  readonly credHelpers: ReadonlyMap<string, string>;
}

/** Docker's own key for Hub in config.json; helpers are asked with this URL too. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The host[:port] a config.json key names. Keys may be URLs (https://index.docker.io/v1/,
 * http://host:5000) or bare hosts. Matching is by this exact canonical host, as the docker CLI
 * does, never by prefix or suffix: a looser match could send one registry's password to another.
 */
export function configKeyHost(key: string): string {
  let host = key.replace(/^[a-z]+:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? 'index.docker.io' : host;
}

export function dockerConfigKeychain(options: DockerConfigOptions): Keychain {
  return {
    async resolve(registry: string): Promise<Authenticator> {
      if (options.configDir === undefined) return anonymous;
      const file = join(options.configDir, 'config.json');
      const config = await readDockerConfig(file);
      if (config === undefined) return anonymous;
      const host = configKeyHost(registry);
      const serverUrl = host === 'index.docker.io' ? DOCKER_HUB_KEY : host;

      const helper = findByHost(config.credHelpers, host) ?? config.credsStore;
      if (helper !== undefined && helper !== '') {
        const fromHelper = await runCredentialHelper(helper, serverUrl, options);
        if (fromHelper !== undefined) return staticAuthenticator(fromHelper);
      }
      const entry = findByHost(config.auths, host);
      return entry === undefined || isEmpty(entry) ? anonymous : staticAuthenticator(entry);
    },
  };
}

function findByHost<T>(map: ReadonlyMap<string, T>, host: string): T | undefined {
  for (const [key, value] of map) if (configKeyHost(key) === host) return value;
  return undefined;
}

function isEmpty(c: AuthConfig): boolean {
  return !c.auth && !c.username && !c.password && !c.identityToken && !c.registryToken;
}

async function readDockerConfig(file: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BuildError('AUTH', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BuildError('AUTH', `${file} is not valid JSON`);
  }
  return parseDockerConfig(raw, file);
}

export function parseDockerConfig(raw: unknown, file: string): DockerConfig {
  if (!isRecord(raw)) throw new BuildError('AUTH', `${file}: the top level must be a JSON object`);
  const auths = new Map<string, AuthConfig>();
  if (raw['auths'] !== undefined) {
    const a = raw['auths'];
    if (!isRecord(a)) throw new BuildError('AUTH', `${file}: "auths" must be an object`);
    for (const [key, value] of Object.entries(a)) auths.set(key, parseAuthEntry(value, `${file}: auths["${key}"]`));
  }
  const credHelpers = new Map<string, string>();
  if (raw['credHelpers'] !== undefined) {
    const h = raw['credHelpers'];
    if (!isRecord(h)) throw new BuildError('AUTH', `${file}: "credHelpers" must be an object`);
    for (const [key, value] of Object.entries(h)) {
      if (typeof value !== 'string') throw new BuildError('AUTH', `${file}: credHelpers["${key}"] must be a string`);
      credHelpers.set(key, value);
    }
  }
  const store = raw['credsStore'];
  if (store !== undefined && typeof store !== 'string') throw new BuildError('AUTH', `${file}: "credsStore" must be a string`);
  return { auths, credHelpers, credsStore: store };
}

function parseAuthEntry(value: unknown, where: string): AuthConfig {
  if (!isRecord(value)) throw new BuildError('AUTH', `${where} must be an object`);
  const field = (name: string): string | undefined => {
    const v = value[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new BuildError('AUTH', `${where}.${name} must be a string`);
    return v;
  };
  const out: { -readonly [K in keyof AuthConfig]: AuthConfig[K] } = {};
  const auth = field('auth');
  const username = field('username');
  const password = field('password');
  const identityToken = field('identitytoken');
  const registryToken = field('registrytoken');
  if (auth) out.auth = auth;
  if (username) out.username = username;
  if (password) out.password = password;
  if (identityToken) out.identityToken = identityToken;
  if (registryToken) out.registryToken = registryToken;
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
