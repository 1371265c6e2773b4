import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { BerthConfig } from '@berth/config';
import type { AccessEntry, Identity } from './identity.js';
import { SigningKey } from './signing-key.js';

/** Audience of tokens for the admin API; registry tokens carry the service name. */
export const API_AUDIENCE = 'berth-api';
/** Audience of refresh tokens, so one can never pass for an access token. */
export const REFRESH_AUDIENCE = 'berth-refresh';

/** Berth's own claim: who the token was issued to, so /v2 needs no database look-up. */
export type IdentityClaim =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: string; admin: boolean; gen?: number; cred?: number }
  | { kind: 'robot'; id: string; namespace: string; actions: string[]; repositories: string[] | null; gen?: number; cred?: number };

/** What a refresh token names: the subject by id and the credential generation it was issued under. */
export interface RefreshClaim {
  sub: string;
  kind?: 'user' | 'robot';
  id?: string;
  cred?: number;
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access?: AccessEntry[];
  berth?: IdentityClaim;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
  refreshToken?: string;
}

/** Signs Docker registry tokens, admin API tokens and refresh tokens (ES256, with `kid`). */
@Injectable()
export class TokenService {
  constructor(
    private readonly config: BerthConfig,
    @Inject(SigningKey) private readonly key: SigningKey,
  ) {}

  get service(): string {
    return this.config.token.service;
  }

  issueRegistryToken(identity: Identity, access: AccessEntry[], offline: boolean): IssuedToken {
    return this.issue(identity, this.config.token.service, { access }, offline);
  }

  issueApiToken(identity: Identity, offline = false): IssuedToken {
    return this.issue(identity, API_AUDIENCE, {}, offline);
  }

  /** Verifies a refresh token and returns its subject; throws when invalid or expired. */
  verifyRefreshToken(token: string): RefreshClaim {
    const claims = jwt.verify(token, this.key.publicKey, {
      algorithms: ['ES256'],
      issuer: this.config.token.issuer,
      audience: REFRESH_AUDIENCE,
    }) as TokenClaims;
    const b = claims.berth;
    return b && b.kind !== 'anonymous' ? { sub: claims.sub, kind: b.kind, id: b.id, cred: b.cred } : { sub: claims.sub };
  }

  private issue(identity: Identity, audience: string, extra: Partial<TokenClaims>, offline: boolean): IssuedToken {
    const now = Math.floor(Date.now() / 1000);
    const subject = identity.kind === 'anonymous' ? '' : identity.username;
    const berth = identityClaim(identity);
    const token = this.sign({ ...extra, berth }, subject, audience, this.config.token.ttlSeconds);
    const refreshToken =
      offline && berth.kind !== 'anonymous'
        ? this.sign({ berth: { kind: berth.kind, id: berth.id, cred: berth.cred } }, subject, REFRESH_AUDIENCE, this.config.token.refreshTtlSeconds)
        : undefined;
    return { token, expiresIn: this.config.token.ttlSeconds, issuedAt: new Date(now * 1000).toISOString(), refreshToken };
  }

  private sign(claims: object, subject: string, audience: string, ttl: number): string {
    return jwt.sign(claims, this.key.privateKey, {
      algorithm: 'ES256',
      keyid: this.key.kid,
      issuer: this.config.token.issuer,
      audience,
      subject,
      expiresIn: ttl,
      notBefore: 0,
      jwtid: randomUUID(),
    });
  }
}

function identityClaim(identity: Identity): IdentityClaim {
  switch (identity.kind) {
    case 'anonymous':
      return { kind: 'anonymous' };
    case 'user':
      return { kind: 'user', id: identity.id, admin: identity.isAdmin, gen: identity.generation ?? 0, cred: identity.credentialGeneration ?? 0 };
    case 'robot':
      return {
        kind: 'robot',
        id: identity.id,
        namespace: identity.namespace,
        actions: identity.actions,
        repositories: identity.repositories,
        gen: identity.generation ?? 0,
        cred: identity.credentialGeneration ?? 0,
      };
  }
}
