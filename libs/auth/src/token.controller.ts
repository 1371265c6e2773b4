import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RegistryError } from '@berth/core';
import { AccessService, parseScope } from './access.service.js';
import { CredentialService } from './credential.service.js';
import { Public } from './decorators.js';
import { ANONYMOUS, type Identity } from './identity.js';
import { type IssuedToken, TokenService } from './token.service.js';

/** `scope` may repeat, and one value may hold several scopes separated by spaces. */
function scopesOf(value: unknown) {
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values
    .flatMap((v) => String(v).split(' '))
    .filter(Boolean)
    .map(parseScope)
    .filter((s) => s !== undefined);
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
  ) {}

  @Public()
  @Get('auth/token')
  async get(@Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const basic = CredentialService.parseBasic(req.headers.authorization);
    const identity: Identity = basic ? await this.login(basic.username, basic.password, req) : ANONYMOUS;
    const issued = this.tokens.issueRegistryToken(identity, await this.access.grant(identity, scopesOf(query.scope)), query.offline_token === 'true');
    send(res, issued, { token: issued.token });
  }

  @Public()
  @Post('auth/token')
  @HttpCode(200)
  async post(@Body() body: Record<string, string> | undefined, @Res() res: Response, @Req() req: Request): Promise<void> {
    const form = body ?? {};
    let identity: Identity;
    let refreshToken: string | undefined;
    if (form.grant_type === 'password') {
      if (!form.username || form.password === undefined) return oauthError(res, 400, 'invalid_request', 'username and password are required');
      identity = await this.login(form.username, form.password, req);
    } else if (form.grant_type === 'refresh_token') {
      if (!form.refresh_token) return oauthError(res, 400, 'invalid_request', 'refresh_token is required');
      const found = await this.fromRefreshToken(form.refresh_token);
      if (!found) return oauthError(res, 401, 'invalid_grant', 'refresh token is invalid, expired or revoked');
      identity = found;
      refreshToken = form.refresh_token;
    } else {
      return oauthError(res, 400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
    }
    const offline = form.access_type === 'offline' && !refreshToken;
    const issued = this.tokens.issueRegistryToken(identity, await this.access.grant(identity, scopesOf(form.scope)), offline);
    send(res, { ...issued, refreshToken: issued.refreshToken ?? refreshToken }, { scope: form.scope ?? '' });
  }

  @Public()
  @Post('api/v1/auth/login')
  @HttpCode(200)
  async apiLogin(@Body() body: { username?: unknown; password?: unknown } | undefined, @Req() req: Request) {
    if (typeof body?.username !== 'string' || typeof body.password !== 'string') {
      throw new RegistryError('UNAUTHORIZED', 'username and password are required');
    }
    const identity = await this.login(body.username, body.password, req);
    if (identity.kind !== 'user') throw new RegistryError('DENIED', 'robot accounts cannot use the admin API');
    const issued = this.tokens.issueApiToken(identity);
    return { token: issued.token, expiresIn: issued.expiresIn, issuedAt: issued.issuedAt };
  }

  private login(username: string, password: string, req: Request) {
    return this.credentials.authenticate(username, password, req.ip);
  }

  private async fromRefreshToken(token: string): Promise<Identity | undefined> {
    let claims: { sub: string; ver?: number };
    try {
      claims = this.tokens.verifyRefreshToken(token);
    } catch {
      return undefined;
    }
    const identity = await this.credentials.currentIdentity(claims.sub);
    // A password change voids the user's refresh tokens.
    if (identity?.kind === 'user' && identity.credentialVersion !== claims.ver) return undefined;
    return identity;
  }
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
