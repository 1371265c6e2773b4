import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import jwt from 'jsonwebtoken';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { BerthConfig } from '@berth/config';
import type { RegistryAction } from '@berth/database';
import { CredentialService } from './credential.service.js';
import { ANONYMOUS, type Identity, type Principal } from './identity.js';
import { SigningKey } from './signing-key.js';
import { API_AUDIENCE, type TokenClaims } from './token.service.js';

/** What a verified bearer token gives the guard. */
export interface TokenPrincipal extends Principal {
  audience: 'registry' | 'api';
  /** Seconds since the epoch. */
  expiresAt: number;
}

/**
 * Verifies bearer tokens: ES256 only (so `alg: none` and HMAC tricks fail), our `kid`,
 * issuer, audience (registry or admin API), expiry. Registry tokens carry their access
 * and identity; admin API tokens are re-checked against the database on every request,
 * so disabling a user locks them out at once.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    config: BerthConfig,
    @Inject(SigningKey) key: SigningKey,
    private readonly credentials: CredentialService,
  ) {
    const publicKeyPem = key.publicKeyPem;
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: (_req, rawJwt, done) => {
        const header = jwt.decode(rawJwt, { complete: true })?.header;
        if (header?.kid !== key.kid) return done(new UnauthorizedException('unknown signing key'));
        done(null, publicKeyPem);
      },
      algorithms: ['ES256'],
      issuer: config.token.issuer,
      audience: [config.token.service, API_AUDIENCE],
    });
  }

  async validate(claims: TokenClaims): Promise<TokenPrincipal> {
    if (claims.aud === API_AUDIENCE) {
      const identity = await this.credentials.currentIdentity(claims.sub);
      if (!identity) throw new UnauthorizedException('account disabled or removed');
      return { identity, audience: 'api', expiresAt: claims.exp };
    }
    return { identity: identityFromClaims(claims), tokenAccess: claims.access ?? [], audience: 'registry', expiresAt: claims.exp };
  }
}

function identityFromClaims(claims: TokenClaims): Identity {
  const b = claims.berth;
  if (!b || b.kind === 'anonymous' || !claims.sub) return ANONYMOUS;
  if (b.kind === 'user') return { kind: 'user', id: b.id, username: claims.sub, isAdmin: b.admin };
  return {
    kind: 'robot',
    id: b.id,
    username: claims.sub,
    namespace: b.namespace,
    actions: b.actions as RegistryAction[],
    repositories: b.repositories,
  };
}
