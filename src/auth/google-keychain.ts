// Google Container Registry and Artifact Registry through Application Default Credentials, as
// go-containerregistry's google.Keychain: username `oauth2accesstoken`, password an OAuth2 access token.
//
// google-auth-library's own ADC discovery finds the credentials: the JSON file named by
// GOOGLE_APPLICATION_CREDENTIALS, else gcloud's application_default_credentials.json, else the GCE/GKE
// metadata server. That discovery reads process.env itself (also HOME, CLOUDSDK_CONFIG,
// GCE_METADATA_HOST); we do not pass the file explicitly because the library prints a deprecation
// warning to the console for an explicit `keyFilename`, and in the executor process.env is the
// environment the CLI would pass anyway. The library caches the access token and refreshes it before
// expiry, so no cache of ours is needed.
import { BuildError } from '../errors.ts';
import { anonymous, type AuthConfig, type Authenticator, type Keychain } from './keychain.ts';

/** An access token, or undefined when no Application Default Credentials are configured at all. */
export type GoogleTokenSource = () => Promise<string | undefined>;

export interface GoogleKeychainOptions {
  /** Replaces the ADC lookup (tests); by default google-auth-library's GoogleAuth. */
  readonly tokenSource?: GoogleTokenSource;
}

const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const USERNAME = 'oauth2accesstoken';
/** google-auth-library's NO_ADC_FOUND message: nothing configured, which is not an error for us. */
const NO_ADC = 'Could not load the default credentials';

const NETWORK_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** gcr.io, its regional hosts (eu.gcr.io, …) and Artifact Registry (<location>-docker.pkg.dev). */
export function isGoogleRegistry(registry: string): boolean {
  const host = registry.toLowerCase();
  return host === 'gcr.io' || /^[a-z0-9-]+(\.[a-z0-9-]+)*\.(gcr\.io|pkg\.dev)$/.test(host);
}

export function googleKeychain(options: GoogleKeychainOptions = {}): Keychain {
  // One GoogleAuth per keychain: it holds the token cache, and discovery (which may probe the
  // metadata server) runs once, on the first Google registry, not at start-up.
  let source: GoogleTokenSource | undefined = options.tokenSource;
  const tokens = (): Promise<string | undefined> => {
    source ??= adcTokenSource();
    return source();
  };
  return {
    async resolve(registry: string): Promise<Authenticator> {
      if (!isGoogleRegistry(registry)) return anonymous;
      const first = await fetchToken(tokens, registry);
      if (first === undefined) return anonymous;
      let pending: string | undefined = first;
      return {
        async authorization(): Promise<AuthConfig> {
          // The first token was fetched to decide anonymous or not; use it, then ask again each time.
          const token = pending ?? (await fetchToken(tokens, registry));
          pending = undefined;
          return token === undefined ? {} : { username: USERNAME, password: token };
        },
      };
    },
  };
}

async function fetchToken(source: GoogleTokenSource, registry: string): Promise<string | undefined> {
  try {
    return await source();
  } catch (err) {
    throw new BuildError('AUTH', `cannot get a Google access token for ${registry} from Application Default Credentials: ${describeGoogleFailure(err)}`, {
      cause: err,
      hint: 'check GOOGLE_APPLICATION_CREDENTIALS, or the workload identity of the node or pod',
    });
  }
}

function adcTokenSource(): GoogleTokenSource {
  // Loaded on the first Google host only: the library costs half a second of start-up otherwise.
  const auth = import('google-auth-library').then(({ GoogleAuth }) => new GoogleAuth({ scopes: [SCOPE] }));
  return async () => {
    let client;
    try {
      client = await (await auth).getClient();
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(NO_ADC)) return undefined;
      throw err;
    }
    const { token } = await client.getAccessToken();
    if (!token) throw new Error('the credentials gave no access token');
    return token;
  };
}

/**
 * One short reason. google-auth-library's errors are gaxios errors whose message can embed the
 * response body; only the status, the OAuth error code and the network code are kept.
 */
export function describeGoogleFailure(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const e = err as Error & { code?: unknown; path?: unknown; status?: unknown; response?: { status?: unknown; data?: unknown } };
  if (typeof e.path === 'string') return `cannot read ${e.path} (${typeof e.code === 'string' ? e.code : 'error'})`;
  const status = typeof e.response?.status === 'number' ? e.response.status : typeof e.status === 'number' ? e.status : undefined;
  const data = e.response?.data;
  const oauthCode = typeof data === 'object' && data !== null && typeof (data as { error?: unknown }).error === 'string'
    ? (data as { error: string }).error : undefined;
  if (status !== undefined) return `the token endpoint answered HTTP ${status}${oauthCode ? ` (${oauthCode})` : ''}`;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return `cannot reach the token endpoint (${e.code})`;
  const line = (err.message.split('\n')[0] ?? '').replace(/https?:\/\/\S+/g, (u) => u.replace(/\?.*/, ''));
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
