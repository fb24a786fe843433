// Credentials, the go-containerregistry authn model: a Keychain maps a registry to an
// Authenticator, which yields an AuthConfig when a request needs one.

/** Docker's auth config fields (config.json `auths` entries, credential-helper answers). */
export interface AuthConfig {
  readonly username?: string;
  readonly password?: string;
  /** base64("username:password"), as stored in config.json. */
  readonly auth?: string;
  /** An OAuth2 refresh token, exchanged at the token endpoint (grant_type=refresh_token). */
  readonly identityToken?: string;
  /** A bearer token sent to the registry as is. */
  readonly registryToken?: string;
}

export interface Authenticator {
  authorization(): Promise<AuthConfig>;
}

export interface Keychain {
  /** `registry` is the canonical host[:port] (Docker Hub is `index.docker.io`). */
  resolve(registry: string): Promise<Authenticator>;
}

/** No credentials. Keychains return this exact object when they have nothing. */
export const anonymous: Authenticator = Object.freeze({
  authorization: async (): Promise<AuthConfig> => ({}),
});

export function staticAuthenticator(config: AuthConfig): Authenticator {
  const frozen = Object.freeze({ ...config });
  return { authorization: async () => frozen };
}

/** A keychain that never has credentials. */
export const anonymousKeychain: Keychain = Object.freeze({ resolve: async () => anonymous });

/** Asks each keychain in order; the first that is not anonymous wins. */
export function multiKeychain(...keychains: readonly Keychain[]): Keychain {
  return {
    async resolve(registry: string): Promise<Authenticator> {
      for (const kc of keychains) {
        const a = await kc.resolve(registry);
        if (a !== anonymous) return a;
      }
      return anonymous;
    },
  };
}

/** username/password from an AuthConfig, decoding `auth` when the explicit fields are absent. */
export function basicCredentials(config: AuthConfig): { username: string; password: string } | undefined {
  if (config.username !== undefined && config.username !== '' && config.password !== undefined) {
    return { username: config.username, password: config.password };
  }
  if (config.auth !== undefined && config.auth !== '') {
    const decoded = Buffer.from(config.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}
