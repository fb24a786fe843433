// The public surface of src/auth.
export { anonymous, anonymousKeychain, basicCredentials, multiKeychain, staticAuthenticator } from './keychain.ts';
export type { AuthConfig, Authenticator, Keychain } from './keychain.ts';
export { configKeyHost, dockerConfigKeychain, parseDockerConfig } from './docker-config.ts';
export type { DockerConfigOptions } from './docker-config.ts';
export { runCredentialHelper } from './cred-helper.ts';
export type { HelperEnv } from './cred-helper.ts';
