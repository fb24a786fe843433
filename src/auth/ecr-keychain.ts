// Amazon ECR private registries through the AWS SDK, as kaniko's vendored amazon-ecr-credential-helper:
// GetAuthorizationToken gives base64("AWS:<password>") valid for 12 hours, cached until shortly before then.
//
// Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and AWS_PROFILE from our
// `env`; otherwise the SDK's default chain (shared files, web identity for EKS/IRSA, ECS and EC2 roles),
// which reads process.env itself — in the executor the same environment.
// The SDK is loaded on the first ECR host only: it costs half a second of start-up otherwise.
import type { ECRClientConfig } from '@aws-sdk/client-ecr';
import { BuildError } from '../errors.ts';
import type { HelperEnv } from './cred-helper.ts';
import { anonymous, type Authenticator, type Keychain } from './keychain.ts';
import { tokenCache, type Expiring } from './token-cache.ts';

/** GetAuthorizationToken's first authorizationData entry. */
export interface EcrAuthorizationData {
  readonly authorizationToken?: string | undefined;
  readonly expiresAt?: Date | undefined;
}

/** One GetAuthorizationToken call; the SDK's errors pass through (CredentialsProviderError = none configured). */
export type EcrTokenFetcher = (ecr: EcrRegistry, signal: AbortSignal) => Promise<EcrAuthorizationData | undefined>;

export interface EcrKeychainOptions {
  readonly env: HelperEnv['env'];
  /** The ECR API endpoint, instead of the SDK's regional one (tests point it at a local double). */
  readonly endpoint?: string;
  /** Replaces the SDK call (tests); by default an ECRClient from `ecrClientConfig`. */
  readonly fetchToken?: EcrTokenFetcher;
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

export interface EcrRegistry {
  readonly accountId: string;
  readonly region: string;
  readonly fips: boolean;
}

// amazon-ecr-credential-helper's pattern: <12 digits>.dkr.ecr[-fips].<region>.amazonaws.com[.cn] and the
// isolated partitions.
const ECR_HOST = /^(\d{12})\.dkr[.-]ecr(-fips)?\.([a-z0-9][a-z0-9-_]*)\.(amazonaws\.com(\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$/;

/** The account and region an ECR host names, or undefined for any other host. */
export function parseEcrRegistry(registry: string): EcrRegistry | undefined {
  const m = ECR_HOST.exec(registry.toLowerCase());
  if (m === null || m[1] === undefined || m[3] === undefined) return undefined;
  return { accountId: m[1], region: m[3], fips: m[2] !== undefined };
}

/** The SDK configuration from `env`, the same reading as the s3:// context's. */
export function ecrClientConfig(env: HelperEnv['env'], ecr: EcrRegistry, endpoint?: string): ECRClientConfig {
  const config: ECRClientConfig = { region: ecr.region };
  if (ecr.fips) config.useFipsEndpoint = true;
  const value = (name: string): string | undefined => (env[name] ? env[name] : undefined);
  const profile = value('AWS_PROFILE');
  if (profile !== undefined) config.profile = profile;
  const accessKeyId = value('AWS_ACCESS_KEY_ID');
  const secretAccessKey = value('AWS_SECRET_ACCESS_KEY');
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    const sessionToken = value('AWS_SESSION_TOKEN');
    config.credentials = sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
  }
  if (endpoint !== undefined) config.endpoint = endpoint;
  return config;
}

export function ecrKeychain(options: EcrKeychainOptions): Keychain {
  const cache = tokenCache(options.now === undefined ? {} : { now: options.now });
  const fetchToken = options.fetchToken ?? sdkTokenFetcher(options.env, options.endpoint);
  const fetch = (registry: string, ecr: EcrRegistry) => (): Promise<Expiring | undefined> =>
    getAuthorizationToken(fetchToken, registry, ecr, options.timeoutMs ?? 30_000, options.now ?? Date.now);
  return {
    async resolve(registry: string): Promise<Authenticator> {
      const ecr = parseEcrRegistry(registry);
      if (ecr === undefined) return anonymous;
      const first = await cache.get(registry, fetch(registry, ecr));
      if (first === undefined) return anonymous;
      return { authorization: async () => (await cache.get(registry, fetch(registry, ecr))) ?? {} };
    },
  };
}

function sdkTokenFetcher(env: HelperEnv['env'], endpoint: string | undefined): EcrTokenFetcher {
  return async (ecr, signal) => {
    const { ECRClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
    const client = new ECRClient(ecrClientConfig(env, ecr, endpoint));
    try {
      // registryIds: the token is per account; the helper asks for the host's account explicitly.
      const out = await client.send(new GetAuthorizationTokenCommand({ registryIds: [ecr.accountId] }), { abortSignal: signal });
      return out.authorizationData?.[0];
    } finally {
      client.destroy();
    }
  };
}

async function getAuthorizationToken(fetchToken: EcrTokenFetcher, registry: string, ecr: EcrRegistry, timeoutMs: number, now: () => number): Promise<Expiring | undefined> {
  try {
    const data = await fetchToken(ecr, AbortSignal.timeout(timeoutMs));
    const decoded = Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new BuildError('AUTH', `cannot get an ECR token for ${registry}: the answer has no authorization token`);
    const expiresAt = data?.expiresAt?.getTime() ?? now() + 60 * 60_000;
    return { config: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }, expiresAt };
  } catch (err) {
    // No AWS credentials anywhere: a public image in ECR, or config.json will do. Not our failure.
    if (err instanceof Error && err.name === 'CredentialsProviderError') return undefined;
    throw describeEcrFailure(registry, ecr, err);
  }
}

/** One line from an SDK failure: the AWS error code and HTTP status, never a request header. */
function describeEcrFailure(registry: string, ecr: EcrRegistry, err: unknown): BuildError {
  if (err instanceof BuildError) return err;
  const prefix = `cannot get an ECR token for ${registry}`;
  const hint = 'check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the pod role) and ecr:GetAuthorizationToken permission';
  if (isServiceException(err)) {
    const status = err.$metadata.httpStatusCode;
    const what = ({
      UnrecognizedClientException: 'the access key is not known (bad credentials)',
      InvalidSignatureException: 'the request signature does not match (bad secret key)',
      AccessDeniedException: 'access denied',
      ExpiredTokenException: 'the session token has expired',
    } as Readonly<Record<string, string>>)[err.name] ?? err.name;
    return new BuildError('AUTH', `${prefix}: ${what}${status === undefined ? '' : ` (HTTP ${status})`}`, { cause: err, hint });
  }
  const e = err as NodeJS.ErrnoException;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return new BuildError('NETWORK', `${prefix}: the ECR API in ${ecr.region} did not answer in time`, { cause: err });
  if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return new BuildError('NETWORK', `${prefix}: cannot reach the ECR API in ${ecr.region} (${e.code})`, { cause: err });
  return new BuildError('AUTH', `${prefix}: ${e.name || 'error'}`, { cause: err, hint });
}

/** The SDK's ServiceException shape (checked structurally: the SDK class is loaded lazily). */
function isServiceException(err: unknown): err is Error & { $metadata: { httpStatusCode?: number } } {
  return err instanceof Error && typeof (err as { $fault?: unknown }).$fault === 'string'
    && typeof (err as { $metadata?: unknown }).$metadata === 'object';
}
