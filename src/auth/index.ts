// The public surface of src/auth.
import { acrKeychain, type AcrKeychainOptions } from './acr-keychain.ts';
import { dockerConfigKeychain, type DockerConfigOptions } from './docker-config.ts';
import { ecrKeychain, type EcrKeychainOptions } from './ecr-keychain.ts';
import { gitlabKeychain } from './gitlab-keychain.ts';
import { googleKeychain, type GoogleKeychainOptions } from './google-keychain.ts';
import { multiKeychain, type Keychain } from './keychain.ts';

export { anonymous, anonymousKeychain, basicCredentials, multiKeychain, staticAuthenticator } from './keychain.ts';
export type { AuthConfig, Authenticator, Keychain } from './keychain.ts';
export { configKeyHost, dockerConfigKeychain, parseDockerConfig } from './docker-config.ts';
export type { DockerConfigOptions } from './docker-config.ts';
export { runCredentialHelper } from './cred-helper.ts';
export type { HelperEnv } from './cred-helper.ts';
export { googleKeychain, isGoogleRegistry } from './google-keychain.ts';
export type { GoogleKeychainOptions, GoogleTokenSource } from './google-keychain.ts';
export { ecrClientConfig, ecrKeychain, parseEcrRegistry } from './ecr-keychain.ts';
export type { EcrAuthorizationData, EcrKeychainOptions, EcrRegistry, EcrTokenFetcher } from './ecr-keychain.ts';
export { ACR_USERNAME, acrCloud, acrKeychain, acrPrincipal } from './acr-keychain.ts';
export type { AcrKeychainOptions } from './acr-keychain.ts';
export { gitlabKeychain } from './gitlab-keychain.ts';

export interface DefaultKeychainOptions extends DockerConfigOptions {
  /** Seams for tests (token sources, endpoints, clocks); `env` comes from the top level. */
  readonly google?: GoogleKeychainOptions;
  readonly ecr?: Omit<EcrKeychainOptions, 'env'>;
  readonly acr?: Omit<AcrKeychainOptions, 'env'>;
}

/**
 * kaniko's keychain (pkg/creds): config.json first, then the built-in cloud helpers, each of which
 * only answers for its own hosts; the first that is not anonymous wins. So an `auths` entry or a
 * credHelper always beats the environment, as in kaniko.
 */
export function defaultKeychain(options: DefaultKeychainOptions): Keychain {
  const { env } = options;
  return multiKeychain(
    dockerConfigKeychain(options),
    googleKeychain(options.google),
    ecrKeychain({ ...options.ecr, env }),
    acrKeychain({ ...options.acr, env }),
    gitlabKeychain({ env }),
  );
}
