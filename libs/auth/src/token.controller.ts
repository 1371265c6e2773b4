import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { BerthConfig } from '@berth/config';
import { RegistryError } from '@berth/core';
import { AccessService, parseScope } from './access.service.js';
import { CredentialService } from './credential.service.js';
import { Public } from './decorators.js';
import { ANONYMOUS, type Identity, type Principal } from './identity.js';
import { setAttemptedLogin } from './login-attempt.js';
import { type IssuedToken, type RefreshClaim, TokenService } from './token.service.js';

/** `scope` may repeat, and one value may hold several scopes separated by spaces. */
function scopeTexts(value: unknown): string[] {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values.flatMap((v) => String(v).split(' ')).filter(Boolean);
}

/**
 * The Docker token endpoint (GET with Basic or no credentials; OAuth2 POST with the
 * password and refresh_token grants) and the admin API login.
 */
@Controller()
export class TokenController {
  constructor(
    private readonly tokens: TokenService,
    private readonly credentials: CredentialService,
    private readonly access: AccessService,
    private readonly config: BerthConfig,
  ) {}

  @Public()
  @Get('auth/token')
  async get(@Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const scopes = scopeTexts(query.scope);
    if (scopes.length > this.config.token.maxScopes) {
      // 400, not UNSUPPORTED's 405: the request is refused, the method is not.
      const error = new RegistryError('UNSUPPORTED', this.tooManyScopes(scopes.length), { scopes: scopes.length, max: this.config.token.maxScopes });
      res.status(400).json(error.toBody());
      return;
    }
    const basic = CredentialService.parseBasic(req.headers.authorization);
    const offline = query.offline_token === 'true';
    const identity: Identity = basic ? await this.login(basic.username, basic.password, req, offline) : ANONYMOUS;
    identify(req, identity);
    const issued = this.tokens.issueRegistryToken(identity, await this.grant(identity, scopes), offline);
    send(res, issued, { token: issued.token });
  }

  @Public()
  @Post('auth/token')
  @HttpCode(200)
  async post(@Body() body: Record<string, string> | undefined, @Res() res: Response, @Req() req: Request): Promise<void> {
    const form = body ?? {};
    const scopes = scopeTexts(form.scope);
    if (scopes.length > this.config.token.maxScopes) return oauthError(res, 400, 'invalid_scope', this.tooManyScopes(scopes.length));
    let identity: Identity;
    let refreshToken: string | undefined;
    if (form.grant_type === 'password') {
      if (!form.username || form.password === undefined) return oauthError(res, 400, 'invalid_request', 'username and password are required');
      identity = await this.login(form.username, form.password, req, true);
    } else if (form.grant_type === 'refresh_token') {
      if (!form.refresh_token) return oauthError(res, 400, 'invalid_request', 'refresh_token is required');
      const found = await this.fromRefreshToken(form.refresh_token);
      if (!found) return oauthError(res, 401, 'invalid_grant', 'refresh token is invalid, expired or revoked');
      identity = found;
      refreshToken = form.refresh_token;
    } else {
      return oauthError(res, 400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
    }
    identify(req, identity);
    const offline = form.access_type === 'offline' && !refreshToken;
    const issued = this.tokens.issueRegistryToken(identity, await this.grant(identity, scopes), offline);
    send(res, { ...issued, refreshToken: issued.refreshToken ?? refreshToken }, { scope: form.scope ?? '' });
  }

  @Public()
  @Post('api/v1/auth/login')
  @HttpCode(200)
  async apiLogin(@Body() body: { username?: unknown; password?: unknown } | undefined, @Req() req: Request) {
    if (typeof body?.username !== 'string' || typeof body.password !== 'string') {
      throw new RegistryError('UNAUTHORIZED', 'username and password are required');
    }
    const identity = await this.login(body.username, body.password, req, true);
    identify(req, identity);
    if (identity.kind !== 'user') throw new RegistryError('DENIED', 'robot accounts cannot use the admin API');
    const issued = this.tokens.issueApiToken(identity);
    return { token: issued.token, expiresIn: issued.expiresIn, issuedAt: issued.issuedAt };
  }

  private grant(identity: Identity, scopes: string[]) {
    return this.access.grant(identity, scopes.map(parseScope).filter((s) => s !== undefined));
  }

  private tooManyScopes(count: number): string {
    return `${count} scopes requested: a token request may ask for at most ${this.config.token.maxScopes} (TOKEN_MAX_SCOPES)`;
  }

  /** `fresh` for logins that hand out a refresh token or an API session (see CredentialService.authenticate). */
  private login(username: string, password: string, req: Request, fresh = false) {
    setAttemptedLogin(req, username);
    return this.credentials.authenticate(username, password, req.ip, fresh);
  }

  private async fromRefreshToken(token: string): Promise<Identity | undefined> {
    let claims: RefreshClaim;
    try {
      claims = this.tokens.verifyRefreshToken(token);
    } catch {
      return undefined;
    }
    const identity = await this.credentials.currentIdentity(claims.sub);
    // The same account (not one created again under its name), with nothing revoked since:
    // rotation, revocation, disabling or a password change moved its credential generation on.
    if (!identity || identity.kind === 'anonymous' || identity.kind !== claims.kind || identity.id !== claims.id) return undefined;
    return (identity.credentialGeneration ?? 0) === claims.cred ? identity : undefined;
  }
}

/** These routes are public, so the guard left no user: the request's log line names the one logged in. */
function identify(req: Request, identity: Identity): void {
  (req as Request & { user?: Principal }).user = { identity };
}

function send(res: Response, issued: IssuedToken, extra: Record<string, string>): void {
  res.setHeader('Cache-Control', 'no-store');
  res.json({
    ...extra,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt,
    ...(issued.refreshToken ? { refresh_token: issued.refreshToken } : {}),
  });
}

function oauthError(res: Response, status: number, error: string, description: string): void {
  res.status(status).json({ error, error_description: description });
}
