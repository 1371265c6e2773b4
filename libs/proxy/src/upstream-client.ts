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
  constructor(message: string) {
    super(message);
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

/** What the client needs of the target policy: the check of a URL as written, and the connect-time lookup. */
export interface UpstreamPolicy {
  assertAllowedUrl(url: string): void;
  readonly lookup: LookupFunction;
}

/**
 * HTTP to one upstream registry: its own connection pool (keep-alive, the upstream's CA
 * bundle or `insecure`), and the Docker token flow: a 401 from the upstream with a Bearer
 * challenge is answered by a token from the realm (anonymous, or with the configured
 * credentials), kept per scope until it expires; a Basic challenge gets the credentials,
 * sent up front from then on. A configured token is sent as it is. Every URL, the first,
 * each redirect (blob downloads from a CDN) and the token realm, is checked against the
 * target policy before it is requested, and sockets connect only to addresses the
 * policy allows (its `lookup`: a name cannot resolve to a refused address either). Other
 * origins than the upstream's get no credentials and are reached through a pool with the
 * system's certificate checks; credentials go to a realm only over https, unless the
 * upstream itself is plain http.
 */
export class UpstreamClient {
  private readonly upstreamAgent: Agent;
  private readonly foreignAgent: Agent;
  private readonly base: URL;
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  /** The upstream asked for Basic credentials: they go with every request now. */
  private basicUpFront = false;

  constructor(
    private readonly settings: UpstreamSettings,
    private readonly policy: UpstreamPolicy,
    private readonly timeoutMs: number,
  ) {
    this.base = new URL(settings.url.endsWith('/') ? settings.url : `${settings.url}/`);
    this.upstreamAgent = new Agent({
      keepAliveTimeout: 4000,
      connect: { lookup: policy.lookup, rejectUnauthorized: !settings.insecure, ...(settings.caBundle ? { ca: settings.caBundle } : {}) },
    });
    this.foreignAgent = new Agent({ keepAliveTimeout: 4000, connect: { lookup: policy.lookup } });
  }

  get origin(): string {
    return this.base.origin;
  }

  async close(): Promise<void> {
    await Promise.all([this.upstreamAgent.close().catch(() => undefined), this.foreignAgent.close().catch(() => undefined)]);
  }

  /** Sends the request, answering one auth challenge; network failures are UpstreamUnreachableError. */
  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const url = new URL(`v2/${req.path}`, this.base);
    const scope = `repository:${req.repository}:pull`;
    const first = await this.follow(url, req, this.authorization(scope));
    if (first.response.statusCode !== 401 || first.url.origin !== this.base.origin) return first.response;
    const challenge = parseChallenge(first.response.headers['www-authenticate']);
    const authorization = challenge ? await this.answer(challenge, scope) : undefined;
    if (!authorization) return first.response;
    await first.response.body.dump().catch(() => undefined);
    return (await this.follow(url, req, authorization)).response;
  }

  private authorization(scope: string): string | undefined {
    if (this.settings.token) return `Bearer ${this.settings.token}`;
    const cached = this.tokens.get(scope);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    return this.basicUpFront ? this.basic() : undefined;
  }

  private basic(): string | undefined {
    const { username, password } = this.settings;
    if (!username || password === null) return undefined;
    return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
  }

  private async answer(challenge: Challenge, scope: string): Promise<string | undefined> {
    if (challenge.scheme === 'basic') {
      this.basicUpFront = this.basic() !== undefined;
      return this.basic();
    }
    if (this.settings.token) return undefined;
    let tokenUrl: URL;
    try {
      tokenUrl = new URL(challenge.params.realm ?? '');
    } catch {
      throw new UpstreamUnreachableError(`the upstream's token realm is not a URL`);
    }
    if (tokenUrl.protocol !== 'https:' && tokenUrl.protocol !== 'http:') throw new UpstreamUnreachableError(`the upstream's token realm is not http(s)`);
    const basic = this.basic();
    if (basic && tokenUrl.protocol === 'http:' && this.base.protocol === 'https:') {
      throw new UpstreamAuthError(`the upstream's token realm is plain http: its credentials are not sent there`);
    }
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', scope);
    const { response } = await this.follow(tokenUrl, { method: 'GET', path: '', repository: '' }, basic, tokenUrl.origin);
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      throw new UpstreamAuthError(`the upstream's token endpoint answered ${response.statusCode}${this.basic() ? ' (check the credentials)' : ''}`);
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

  /**
   * One request, following redirects; `authorization` goes only to `credentialOrigin`
   * (the upstream's, or the realm's for a token request). Returns the last response and its URL.
   */
  private async follow(
    url: URL,
    req: UpstreamRequest,
    authorization: string | undefined,
    credentialOrigin = this.base.origin,
  ): Promise<{ response: UpstreamResponse; url: URL }> {
    for (let hops = 0; ; hops++) {
      try {
        this.policy.assertAllowedUrl(url.href);
      } catch (err) {
        if (err.name !== 'TargetNotAllowedError') throw err;
        throw new UpstreamUnreachableError(`the upstream ${hops ? 'redirected' : 'sent Berth'} to an address the target policy refuses (see PROXY_ALLOW_PRIVATE_TARGETS)`);
      }
      const upstream = url.origin === this.base.origin;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          dispatcher: upstream ? this.upstreamAgent : this.foreignAgent,
          method: req.method,
          headers: { ...req.headers, ...(authorization && url.origin === credentialOrigin ? { authorization } : {}), 'user-agent': 'berth-proxy' },
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
      } catch (err) {
        throw new UpstreamUnreachableError(describeNetworkError(err));
      }
      const location = response.headers.location;
      if (![301, 302, 303, 307, 308].includes(response.statusCode) || typeof location !== 'string') return { response, url };
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
  constructor(message: string) {
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
  const e = err as { code?: string; cause?: { code?: string; message?: string; name?: string }; message?: string; name?: string };
  if (e?.name === 'TargetNotAllowedError' || e?.cause?.name === 'TargetNotAllowedError') {
    return 'the upstream resolves to an address the target policy refuses (see PROXY_ALLOW_PRIVATE_TARGETS)';
  }
  const code = e?.code ?? e?.cause?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'the upstream did not answer in time';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'the upstream could not be reached in time';
  return `the upstream could not be reached (${code ?? 'network error'})`;
}
