/** Chooses the authenticator for a runtime config: OAuth, API keys, or the explicit (and reported) `none`. */
import type { Logger } from 'pino';
import type { RuntimeConfig } from '../config/runtime-config.ts';
import { createApiKeyAuthenticator } from './api-keys.ts';
import { secretDirPath } from './secrets.ts';
import { createOAuthAuthenticator } from './oauth/authenticator.ts';
import type { FetchLike } from './oauth/discovery.ts';
import { reportedNoneAuthenticator, type Authenticator } from './types.ts';

export interface AuthenticatorDeps {
  logger: Logger;
  /** Outbound fetch for discovery, JWKS and introspection (tests inject, default global fetch). */
  fetch?: FetchLike;
  jwksCooldownMs?: number;
  /** See OAuthDeps.jwksCacheMaxAgeMs. */
  jwksCacheMaxAgeMs?: number;
  /** See OAuthDeps.verifiedCacheMs. */
  verifiedCacheMs?: number;
  /** See OAuthDeps.verifiedCacheMax. */
  verifiedCacheMax?: number;
  apiKeyPollMs?: number;
}

/** Builds the Authenticator named by `spec.auth`. */
export function createAuthenticator(config: RuntimeConfig, deps: AuthenticatorDeps): Authenticator {
  const { auth, endpoint } = config.spec;
  const logger = deps.logger.child({ component: 'auth' });
  if (auth.oauth) {
    return createOAuthAuthenticator(auth.oauth, {
      publicUrl: endpoint.publicUrl,
      resourcePath: endpoint.path,
      logger,
      fetch: deps.fetch,
      secretsDir: config.runtime.secretsDir,
      jwksCooldownMs: deps.jwksCooldownMs,
      jwksCacheMaxAgeMs: deps.jwksCacheMaxAgeMs,
      verifiedCacheMs: deps.verifiedCacheMs,
      verifiedCacheMax: deps.verifiedCacheMax,
    });
  }
  if (auth.apiKeys) {
    return createApiKeyAuthenticator({ dir: secretDirPath(config.runtime.secretsDir, auth.apiKeys.secretRef.name), logger, pollMs: deps.apiKeyPollMs });
  }
  if (auth.none) return reportedNoneAuthenticator(logger);
  throw new Error('auth: exactly one of oauth, apiKeys, none is required');
}
