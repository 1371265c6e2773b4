import type { LookupFunction } from 'node:net';
import { Agent, type Dispatcher, request } from 'undici';
import type { UpstreamSettings } from './upstream-settings.js';

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

export interface UpstreamRequest {
  method: 'GET' | 'HEAD';
  /** The path under /v2/ of the upstream, e.g. `library/alpine/manifests/3.20`. */
  path: string;
  /** The upstream repository, for the token's scope. */
  repository: string;
  headers?: Record<string, string>;
}

/** The upstream could not be reached or broke off: the cache serves what it has. */
export class UpstreamUnreachableError extends Error {
  constructor(readonly condition: string) {
    super(condition);
    this.name = 'UpstreamUnreachableError';
  }
}

const MAX_REDIRECTS = 5;
/** A token without expires_in lasts 60 s (Docker token spec); renewed this long before it ends. */
const TOKEN_MARGIN_MS = 10_000;
const TOKENS_KEPT = 1000;

interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/**
 * HTTP to one upstream registry: its own connection pool (keep-alive, the upstream's CA
 * bundle or `insecure`), sockets only to addresses the target policy allows (its
 * `lookup`, also for redirects), and the Docker token flow: a 401 with a Bearer challenge
 * is answered by a token from the realm (anonymous, or with the configured credentials),
 * kept per scope until it expires; a Basic challenge gets the credentials. A configured
 * token is sent as it is. Redirects (blob downloads from a CDN) are followed without the
 * upstream's credentials when they leave its origin.
 */
export class UpstreamClient {
  private readonly agent: Agent;
  private readonly base: URL;
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(
    private readonly settings: UpstreamSettings,
    lookup: LookupFunction,
    private readonly timeoutMs: number,
  ) {
    this.base = new URL(settings.url.endsWith('/') ? settings.url : `${settings.url}/`);
    this.agent = new Agent({
      keepAliveTimeout: 4000,
      connect: { lookup, rejectUnauthorized: !settings.insecure, ...(settings.caBundle ? { ca: settings.caBundle } : {}) },
    });
  }

  get origin(): string {
    return this.base.origin;
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  /** Sends the request, answering one auth challenge; network failures are UpstreamUnreachableError. */
  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const url = new URL(`v2/${req.path}`, this.base);
    const scope = `repository:${req.repository}:pull`;
    let response = await this.follow(url, req, this.authorization(scope));
    if (response.statusCode !== 401) return response;
    const challenge = parseChallenge(response.headers['www-authenticate']);
    await response.body.dump().catch(() => undefined);
    const authorization = challenge ? await this.answer(challenge, scope) : undefined;
    if (!authorization) return this.follow(url, req, undefined);
    response = await this.follow(url, req, authorization);
    return response;
  }

  private authorization(scope: string): string | undefined {
    if (this.settings.token) return `Bearer ${this.settings.token}`;
    const cached = this.tokens.get(scope);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    return undefined;
  }

  private basic(): string | undefined {
    const { username, password } = this.settings;
    if (!username || password === null) return undefined;
    return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
  }

  private async answer(challenge: Challenge, scope: string): Promise<string | undefined> {
    if (challenge.scheme === 'basic') return this.basic();
    if (this.settings.token) return undefined;
    const realm = challenge.params.realm;
    if (!realm) return undefined;
    let tokenUrl: URL;
    try {
      tokenUrl = new URL(realm);
    } catch {
      throw new UpstreamUnreachableError(`the upstream's token realm is not a URL`);
    }
    if (tokenUrl.protocol !== 'https:' && tokenUrl.protocol !== 'http:') throw new UpstreamUnreachableError(`the upstream's token realm is not http(s)`);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', scope);
    const basic = this.basic();
    const response = await this.follow(tokenUrl, { method: 'GET', path: '', repository: '' }, basic, true);
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      throw new UpstreamAuthError(`the upstream's token endpoint answered ${response.statusCode}${basic ? ' (check the credentials)' : ''}`, response.statusCode);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await response.body.json()) as typeof body;
    } catch {
      throw new UpstreamUnreachableError(`the upstream's token endpoint sent no JSON`);
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new UpstreamUnreachableError(`the upstream's token endpoint sent no token`);
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    if (this.tokens.size >= TOKENS_KEPT) this.tokens.clear();
    this.tokens.set(scope, { token, expiresAt: Date.now() + Math.max(seconds * 1000 - TOKEN_MARGIN_MS, 1000) });
    return `Bearer ${token}`;
  }

  /** One request, following redirects; credentials go only to the upstream's origin (or the realm, for a token request). */
  private async follow(url: URL, req: UpstreamRequest, authorization: string | undefined, toRealm = false): Promise<UpstreamResponse> {
    const origin = url.origin;
    for (let hops = 0; ; hops++) {
      const sameOrigin = toRealm ? url.origin === origin : url.origin === this.base.origin;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          dispatcher: this.agent,
          method: req.method,
          headers: { ...req.headers, ...(authorization && sameOrigin ? { authorization } : {}), 'user-agent': 'berth-proxy' },
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
      } catch (err) {
        throw new UpstreamUnreachableError(describeNetworkError(err));
      }
      const location = response.headers.location;
      if (![301, 302, 303, 307, 308].includes(response.statusCode) || typeof location !== 'string') return response;
      await response.body.dump().catch(() => undefined);
      if (hops >= MAX_REDIRECTS) throw new UpstreamUnreachableError('the upstream redirected too many times');
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new UpstreamUnreachableError('the upstream redirected to a non-http(s) URL');
      url = next;
    }
  }
}

/** The upstream refused the configured credentials (or their absence). */
export class UpstreamAuthError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
    this.name = 'UpstreamAuthError';
  }
}

/** `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const value = Array.isArray(header) ? header.find((h) => /^bearer /i.test(h)) ?? header[0] : header;
  if (!value) return undefined;
  const match = /^(bearer|basic)\s*(.*)$/i.exec(value.trim());
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of match[2].matchAll(/([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[key.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare;
  }
  return { scheme: match[1].toLowerCase() as Challenge['scheme'], params };
}

function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string; name?: string };
  if (e?.name === 'TargetNotAllowedError') return `the upstream's address is not allowed: ${e.message}`;
  const code = e?.code ?? e?.cause?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'the upstream did not answer in time';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'the upstream could not be reached in time';
  return `the upstream could not be reached (${code ?? 'network error'})`;
}
