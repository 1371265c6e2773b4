/**
 * Helpers for the auth suites (test/auth): the token endpoint, the admin REST API and
 * JWT inspection, over real HTTP against a registry started with startRegistry().
 *
 * The registry side (/v2) goes through RegistryClient (test/support/http.ts), which
 * also checks every response for the API version header and a well-formed error body.
 * /auth/token and /api are plain fetch: they answer OAuth2 and REST bodies, not the
 * distribution error format.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { type Credentials, type RegistryAuth, RegistryClient, type Res, basicAuth } from '../support/http.js';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  body: any;
}

export interface CallOptions {
  /** Basic credentials, a bearer token, or nothing. */
  auth?: RegistryAuth | null;
  json?: unknown;
  /** An application/x-www-form-urlencoded body. */
  form?: Record<string, string | undefined>;
  headers?: Record<string, string>;
}

/** A unique account name (user, organisation, robot): lowercase, 2-64 characters. */
export function accountName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export function authorization(auth: RegistryAuth | null | undefined): Record<string, string> {
  if (!auth) return {};
  return { authorization: 'token' in auth ? `Bearer ${auth.token}` : basicAuth(auth) };
}

/** One request to the registry outside /v2 (token endpoint, admin API). */
export async function call(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...authorization(options.auth), ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(options.form)) if (v !== undefined) form.append(k, v);
    body = form.toString();
  }
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body, redirect: 'manual' });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** Asserts a status with the answer's body in the message. */
export function expectStatus(answer: HttpAnswer | Res, ...statuses: number[]): void {
  expect(statuses, `${answer.status} ${answer.text.slice(0, 400)}`).toContain(answer.status);
}

// ---------------------------------------------------------------------------
// Token endpoint

export interface TokenRequest {
  auth?: Credentials | null;
  /** Each becomes one `scope` parameter (a value may itself hold several, space-separated). */
  scopes?: string[];
  service?: string;
  offline?: boolean;
  /** Extra query parameters (account, client_id, …). */
  params?: Record<string, string>;
}

export interface TokenAnswer extends HttpAnswer {
  body: {
    token: string;
    access_token: string;
    expires_in: number;
    issued_at: string;
    refresh_token?: string;
    scope?: string;
    /** OAuth2 errors (POST). */
    error?: string;
    error_description?: string;
  };
}

/** `GET /auth/token` as a Docker client sends it. */
export function getToken(baseUrl: string, request: TokenRequest = {}): Promise<TokenAnswer> {
  const query = new URLSearchParams();
  query.set('service', request.service ?? 'berth-registry');
  for (const scope of request.scopes ?? []) query.append('scope', scope);
  if (request.offline) query.set('offline_token', 'true');
  for (const [k, v] of Object.entries(request.params ?? {})) query.set(k, v);
  return call(baseUrl, 'GET', `/auth/token?${query.toString()}`, { auth: request.auth ?? null }) as Promise<TokenAnswer>;
}

/** A token that must be issued: asserts 200 and returns it with its decoded claims. */
export async function mustGetToken(baseUrl: string, request: TokenRequest = {}): Promise<{ token: string; claims: Claims; answer: TokenAnswer }> {
  const answer = await getToken(baseUrl, request);
  expectStatus(answer, 200);
  const token = answer.body.token ?? answer.body.access_token;
  return { token, claims: decodeJwt(token).payload as Claims, answer };
}

/** `POST /auth/token` (OAuth2 form). */
export function postToken(baseUrl: string, form: Record<string, string | undefined>, auth?: Credentials): Promise<TokenAnswer> {
  return call(baseUrl, 'POST', '/auth/token', { form, auth }) as Promise<TokenAnswer>;
}

// ---------------------------------------------------------------------------
// JWT

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface Claims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access?: AccessEntry[];
  [claim: string]: unknown;
}

export function b64url(data: Buffer | string | object): string {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data));
  return buf.toString('base64url');
}

/** Decodes (never verifies) a compact JWT. */
export function decodeJwt(token: string): { header: Record<string, any>; payload: Record<string, any>; signature: string } {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWT: ${token.slice(0, 40)}…`);
  const [h, p, s] = parts;
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature: s,
  };
}

/** The access claim, sorted, with sorted actions: for order-independent comparisons. */
export function normaliseAccess(access: AccessEntry[] | undefined): AccessEntry[] {
  return [...(access ?? [])]
    .map((a) => ({ type: a.type, name: a.name, actions: [...a.actions].sort() }))
    .sort((a, b) => `${a.type}:${a.name}`.localeCompare(`${b.type}:${b.name}`));
}

// ---------------------------------------------------------------------------
// Challenges

/** Parses `Bearer realm="…",service="…",scope="…",error="…"` into its parameters. */
export function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } {
  if (!header) throw new Error('no WWW-Authenticate header');
  const space = header.indexOf(' ');
  const scheme = space < 0 ? header : header.slice(0, space);
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_]+)="([^"]*)"/g;
  for (let m = re.exec(header.slice(space + 1)); m; m = re.exec(header.slice(space + 1))) params[m[1]] = m[2];
  return { scheme, params };
}

/** The exact challenge Berth must send for a scope (undefined: none) and error. */
export function expectedChallenge(baseUrl: string, scope?: string, insufficient = false): string {
  let challenge = `Bearer realm="${baseUrl}/auth/token",service="berth-registry"`;
  if (scope) challenge += `,scope="${scope}"`;
  if (insufficient) challenge += ',error="insufficient_scope"';
  return challenge;
}

// ---------------------------------------------------------------------------
// Admin REST API

export interface RobotCreated {
  /** `<namespace>+<name>` */
  username: string;
  secret: string;
  raw: any;
}

/**
 * The admin API as one logged-in user. Request and response shapes follow
 * libs/admin (POST /api/v1/users, /namespaces, members, robots, …).
 */
export class AdminApi {
  private constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  /** Logs in through `POST /api/v1/auth/login`; throws unless 200 with a token. */
  static async login(baseUrl: string, credentials: Credentials): Promise<AdminApi> {
    const answer = await apiLogin(baseUrl, credentials);
    if (answer.status !== 200 || typeof answer.body?.token !== 'string') {
      throw new Error(`admin API login as ${credentials.username}: ${answer.status} ${answer.text.slice(0, 300)}`);
    }
    return new AdminApi(baseUrl, answer.body.token);
  }

  request(method: string, path: string, json?: unknown): Promise<HttpAnswer> {
    return call(this.baseUrl, method, `/api/v1${path}`, { auth: { token: this.token }, json });
  }

  /** Like request(), but throws unless the answer is 2xx. */
  async must(method: string, path: string, json?: unknown): Promise<any> {
    const answer = await this.request(method, path, json);
    if (answer.status < 200 || answer.status > 299) {
      throw new Error(`${method} /api/v1${path}: ${answer.status} ${answer.text.slice(0, 400)}`);
    }
    return answer.body;
  }

  async createUser(username: string, password: string, isAdmin = false): Promise<Credentials> {
    await this.must('POST', '/users', { username, password, ...(isAdmin ? { isAdmin } : {}) });
    return { username, password };
  }

  disableUser(username: string): Promise<HttpAnswer> {
    return this.request('PATCH', `/users/${username}`, { disabled: true });
  }

  createOrganisation(name: string): Promise<any> {
    return this.must('POST', '/namespaces', { name });
  }

  setVisibility(namespace: string, visibility: 'public' | 'private'): Promise<HttpAnswer> {
    return this.request('PATCH', `/namespaces/${namespace}`, { visibility });
  }

  setMember(namespace: string, username: string, role: string): Promise<HttpAnswer> {
    return this.request('PUT', `/namespaces/${namespace}/members/${username}`, { role });
  }

  createRobotRequest(namespace: string, grant: Record<string, unknown>): Promise<HttpAnswer> {
    return this.request('POST', `/namespaces/${namespace}/robots`, grant);
  }

  async createRobot(namespace: string, grant: { name: string; actions: string[]; repositories?: string[] | null; expiresAt?: string }): Promise<RobotCreated> {
    const body = await this.must('POST', `/namespaces/${namespace}/robots`, grant);
    const secret = body?.secret;
    if (typeof secret !== 'string') throw new Error(`robot creation answered no secret: ${JSON.stringify(body)}`);
    const username = body?.robot?.username ?? body?.username ?? `${namespace}+${grant.name}`;
    return { username, secret, raw: body };
  }

  revokeRobot(namespace: string, name: string): Promise<HttpAnswer> {
    return this.request('POST', `/namespaces/${namespace}/robots/${name}/revoke`);
  }

  changeOwnPassword(currentPassword: string, newPassword: string): Promise<HttpAnswer> {
    return this.request('PUT', '/users/me/password', { currentPassword, newPassword });
  }
}

export function apiLogin(baseUrl: string, credentials: Credentials): Promise<HttpAnswer> {
  return call(baseUrl, 'POST', '/api/v1/auth/login', { json: credentials });
}

/** A RegistryClient with fixed authentication for one identity. */
export function clientFor(baseUrl: string, auth: RegistryAuth | null): RegistryClient {
  return new RegistryClient(baseUrl, auth);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A strong-enough password for test accounts. */
export function password(): string {
  return `pw-${randomBytes(9).toString('base64url')}`;
}
