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
  /** The generation a registry token was issued under (absent in older tokens: 0). */
  generation?: number;
}

/**
 * Verifies bearer tokens: ES256 only (so `alg: none` and HMAC tricks fail), our `kid`,
 * issuer, audience (registry or admin API), expiry. Registry tokens carry their access
 * and identity (checked against revocations by the guard); admin API tokens are
 * re-checked against the database on every request, so disabling a user locks them out at once.
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
      // Read fresh anyway (permissions too): the same account, with its credentials not revoked since.
      const b = claims.berth;
      if (identity.kind === 'anonymous' || b?.kind !== identity.kind || b.id !== identity.id || (b.cred ?? 0) !== (identity.credentialGeneration ?? 0)) {
        throw new UnauthorizedException('token revoked');
      }
      return { identity, audience: 'api', expiresAt: claims.exp };
    }
    const generation = claims.berth && claims.berth.kind !== 'anonymous' ? claims.berth.gen : undefined;
    return { identity: identityFromClaims(claims), tokenAccess: claims.access ?? [], audience: 'registry', expiresAt: claims.exp, generation };
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
