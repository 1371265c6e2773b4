import { type CanActivate, type ExecutionContext, HttpException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { BerthConfig } from '@berth/config';
import { RegistryError, assertRepositoryName, isRepositoryName } from '@berth/core';
import { type RegistryAction, databaseUnavailable, isDatabaseOutage } from '@berth/database';
import { AccessService } from './access.service.js';
import { CredentialService } from './credential.service.js';
import { PUBLIC_ROUTE, REGISTRY_ACCESS, type RegistryRequirement } from './decorators.js';
import { ANONYMOUS, type Principal } from './identity.js';
import { JwtStrategy, type TokenPrincipal } from './jwt.strategy.js';
import { RevocationService } from './revocation.service.js';
import { setAttemptedLogin } from './login-attempt.js';
import { VerifiedTokens } from './verified-tokens.js';

type AuthenticatedRequest = Request & { user?: Principal };

/** The callbacks passport gives a strategy for one authentication attempt. */
interface PassportOutcome {
  success(user: unknown): void;
  fail(challenge?: unknown): void;
  error(err: Error): void;
}

/** Actions a route's action needs in the token, and the scope to challenge with. */
const NEEDED: Record<RegistryAction, RegistryAction[]> = { pull: ['pull'], push: ['pull', 'push'], delete: ['delete'] };

/**
 * The global guard: every route needs credentials unless marked @Public().
 * `/v2` follows the Docker token spec: a request without a valid token (or Basic
 * credentials) gets 401 with a Bearer challenge naming the scope it needs; a token
 * that lacks the scope gets the same challenge with `insufficient_scope`; Basic
 * credentials without the permission get 403. `/api` needs a user (not a robot).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  private readonly verifiedTokens = new VerifiedTokens();

  constructor(
    private readonly reflector: Reflector,
    private readonly config: BerthConfig,
    private readonly credentials: CredentialService,
    private readonly access: AccessService,
    private readonly jwt: JwtStrategy,
    private readonly revocations: RevocationService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const requirement = this.reflector.getAllAndOverride<RegistryRequirement | undefined>(REGISTRY_ACCESS, targets);
    // Every /v2 route names what it needs: one that does not is refused rather than let in on
    // the admin API's rules (routes match case-sensitively, so the path is a safe test).
    if (!requirement && req.path.startsWith('/v2')) throw new RegistryError('DENIED', 'this route declares no registry access');
    await this.authenticate(req, requirement);
    if (requirement) await this.authorizeRegistry(req, requirement);
    else this.authorizeApi(req);
    return true;
  }

  private async authenticate(req: AuthenticatedRequest, requirement: RegistryRequirement | undefined) {
    const header = req.headers.authorization;
    try {
      if (!header) {
        req.user = { identity: ANONYMOUS };
      } else if (/^Bearer /i.test(header)) {
        const token = header.slice(7).trim();
        let principal = this.verifiedTokens.get(token);
        if (!principal) {
          principal = await this.verifyBearer(req);
          if (principal.audience === 'registry') this.verifiedTokens.set(token, principal, principal.expiresAt);
        }
        // Checked on every use, cached or not: a revocation after the first use counts too. (Admin API
        // tokens carry no grants; the strategy has checked their account against the database.)
        if (principal.audience === 'registry' && !this.revocations.stands(principal.identity, principal.generation)) {
          throw new RegistryError('UNAUTHORIZED', 'token revoked');
        }
        req.user = principal;
      } else {
        const basic = CredentialService.parseBasic(header);
        if (!basic) throw new RegistryError('UNAUTHORIZED', 'unsupported authorization scheme');
        setAttemptedLogin(req, basic.username);
        req.user = { identity: await this.credentials.authenticate(basic.username, basic.password, req.ip) };
      }
    } catch (err) {
      if (err instanceof RegistryError && (err.code === 'TOOMANYREQUESTS' || err.code === 'UNAVAILABLE')) throw err;
      // Only a refused credential is a 401; an outage or a bug must not pass for one (nor show its message).
      if (isDatabaseOutage(err)) throw databaseUnavailable();
      if (!(err instanceof RegistryError || (err instanceof HttpException && err.getStatus() < 500))) throw err;
      throw this.unauthorized(req, requirement, err.message || 'authentication failed');
    }
  }

  /**
   * Runs this app's passport-jwt strategy on the request. Called on the strategy
   * instance rather than through passport.authenticate, whose registry of strategies
   * is global to the process (two apps in one process would share one key).
   */
  private verifyBearer(req: Request): Promise<TokenPrincipal> {
    return new Promise((resolve, reject) => {
      const attempt = Object.create(this.jwt) as JwtStrategy & PassportOutcome;
      attempt.success = (user) => resolve(user as TokenPrincipal);
      attempt.fail = () => reject(new RegistryError('UNAUTHORIZED', 'invalid or expired token'));
      attempt.error = (err) => reject(err);
      attempt.authenticate(req, {});
    });
  }

  private async authorizeRegistry(req: AuthenticatedRequest, requirement: RegistryRequirement): Promise<void> {
    const principal = req.user as Principal | TokenPrincipal;
    if ('audience' in principal && principal.audience !== 'registry') {
      throw this.unauthorized(req, requirement, 'this token is for the admin API, not the registry');
    }
    const viaToken = principal.tokenAccess !== undefined;
    const anonymous = !viaToken && principal.identity.kind === 'anonymous';
    if (anonymous) throw this.unauthorized(req, requirement, 'authentication required');
    if (requirement === 'base') return;
    if (requirement === 'catalog') {
      if (!viaToken || principal.tokenAccess!.some((a) => a.type === 'registry' && a.name === 'catalog')) return;
      throw this.unauthorized(req, requirement, 'insufficient scope', true);
    }
    const name = req.params.name as string;
    assertRepositoryName(name);
    const needed = NEEDED[requirement.action];
    if (viaToken) {
      const granted = new Set(principal.tokenAccess!.filter((a) => a.type === 'repository' && a.name === name).flatMap((a) => a.actions));
      if (needed.every((a) => granted.has(a))) return;
      throw this.unauthorized(req, requirement, 'insufficient scope', true);
    }
    const allowed = await this.access.allowedActions(principal.identity, name);
    if (!needed.every((a) => allowed.has(a))) throw new RegistryError('DENIED', `requested access to ${name} is denied`, { name });
  }

  private authorizeApi(req: AuthenticatedRequest): void {
    const principal = req.user as Principal | TokenPrincipal;
    if ('audience' in principal && principal.audience !== 'api') {
      throw new RegistryError('UNAUTHORIZED', 'use a token from POST /api/v1/auth/login', undefined, { 'WWW-Authenticate': 'Bearer realm="berth-api"' });
    }
    if (principal.identity.kind === 'anonymous') {
      throw new RegistryError('UNAUTHORIZED', 'authentication required', undefined, { 'WWW-Authenticate': 'Bearer realm="berth-api"' });
    }
    if (principal.identity.kind === 'robot') throw new RegistryError('DENIED', 'robot accounts cannot use the admin API');
  }

  private unauthorized(req: Request, requirement: RegistryRequirement | undefined, message: string, insufficient = false): RegistryError {
    if (!requirement) {
      return new RegistryError('UNAUTHORIZED', message, undefined, { 'WWW-Authenticate': 'Bearer realm="berth-api"' });
    }
    const realm = `${this.config.publicUrl ?? `${req.protocol}://${req.get('host')}`}/auth/token`;
    let challenge = `Bearer realm="${realm}",service="${this.config.token.service}"`;
    const scope = scopeOf(req, requirement);
    if (scope) challenge += `,scope="${scope}"`;
    if (insufficient) challenge += ',error="insufficient_scope"';
    return new RegistryError('UNAUTHORIZED', message, undefined, { 'WWW-Authenticate': challenge });
  }
}

function scopeOf(req: Request, requirement: RegistryRequirement | undefined): string | undefined {
  if (requirement === 'catalog') return 'registry:catalog:*';
  if (!requirement || requirement === 'base') return undefined;
  const name = req.params.name as string;
  // Only a valid name goes into the header (no quotes or line breaks from the URL).
  if (!isRepositoryName(name)) return undefined;
  const scope = `repository:${name}:${NEEDED[requirement.action].join(',')}`;
  // A mount reads the source: as in Distribution, the challenge asks for pull there too,
  // so that a client following it gets a token that can mount.
  const from = req.method === 'POST' && req.query.mount !== undefined ? req.query.from : undefined;
  return typeof from === 'string' && from !== name && isRepositoryName(from) ? `${scope} repository:${from}:pull` : scope;
}
