// GitLab CI's registry credentials (kaniko vendors ePirat's docker-credential-gitlabci): a job gets
// CI_REGISTRY, CI_REGISTRY_USER and CI_REGISTRY_PASSWORD, valid for that one registry only. They are
// offered for exactly that host — never for another, or a job token would go to a third party.
import type { HelperEnv } from './cred-helper.ts';
import { configKeyHost } from './docker-config.ts';
import { anonymous, staticAuthenticator, type Keychain } from './keychain.ts';

export interface GitlabKeychainOptions {
  readonly env: HelperEnv['env'];
}

export function gitlabKeychain(options: GitlabKeychainOptions): Keychain {
  return {
    async resolve(registry: string) {
      const { CI_REGISTRY: ciRegistry, CI_REGISTRY_USER: username, CI_REGISTRY_PASSWORD: password } = options.env;
      if (!ciRegistry || !username || !password) return anonymous;
      // CI_REGISTRY is a bare host[:port] in GitLab, but compare canonical forms so a URL also works.
      if (configKeyHost(ciRegistry) !== configKeyHost(registry)) return anonymous;
      return staticAuthenticator({ username, password });
    },
  };
}
