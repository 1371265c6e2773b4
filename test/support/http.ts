/**
 * HTTP helpers for the end-to-end suite (test/api). They speak the OCI Distribution API
 * over real HTTP with node:http, so request paths are sent exactly as written (no client
 * side normalisation of `..` or `//`, no redirects followed, no forbidden headers).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  basicAuth,
  credentialsFor,
  postgresAvailable,
  startRegistry,
  type Credentials,
  type StartOptions,
  type TestRegistry,
} from './registry.js';

export { basicAuth, type Credentials } from './registry.js';

/** How a client authenticates: HTTP Basic credentials, or a bearer token. */
export type RegistryAuth = Credentials | { token: string };

/** The Authorization header value for `auth` (undefined: send none). */
export function authorizationOf(auth: RegistryAuth | null | undefined): string | undefined {
  if (!auth) return undefined;
  return 'token' in auth ? `Bearer ${auth.token}` : basicAuth(auth);
}

export const API_VERSION_HEADER = 'docker-distribution-api-version';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

/** An Accept header naming every manifest type the registry stores. */
export const ACCEPT_MANIFESTS = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** True when the suite runs against an external registry (E2E_REGISTRY_URL), e.g. Distribution 2.8. */
export const externalRegistry = Boolean(process.env.E2E_REGISTRY_URL);

/**
 * A test of behaviour specific to Berth (where Distribution 2.8 differs or lacks the
 * feature). Skipped when the suite runs against an external registry.
 */
export function berthOnly(name: string, fn: () => Promise<void> | void, timeout?: number): void {
  it.skipIf(externalRegistry)(`[berth] ${name}`, fn, timeout);
}

/**
 * Whether the end-to-end suite can run here: always against an external registry,
 * otherwise only with a reachable Postgres (postgresAvailable() throws under CI instead).
 */
export async function e2eAvailable(suite: string): Promise<boolean> {
  if (externalRegistry) return true;
  const ok = await postgresAvailable();
  if (!ok) {
    console.warn(
      `[${suite}] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL; ` +
        'start Postgres (or set E2E_REGISTRY_URL) to run the end-to-end suite.',
    );
  }
  return ok;
}

export function sha256(buf: Buffer | string): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export function sha512(buf: Buffer | string): string {
  return `sha512:${createHash('sha512').update(buf).digest('hex')}`;
}

export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

/** A short random suffix to keep repository names unique between tests sharing a registry. */
export function uniq(prefix = 'r'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface Res {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
  /** Parsed JSON body (throws when the body is not JSON). */
  json<T = any>(): T;
  /** The Location header resolved against the registry URL, or undefined. */
  location?: string;
}

export interface ReqOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
  /**
   * Authentication for this request only, instead of the client's: null sends no
   * Authorization header. An Authorization header in `headers` always wins.
   */
  auth?: RegistryAuth | null;
}

export interface ErrorBody {
  errors: Array<{ code: string; message: string; detail?: unknown }>;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

export class RegistryClient {
  /** Protocol problems seen on any response (missing API version header, malformed error bodies). */
  readonly violations: string[] = [];

  /** How every request authenticates unless told otherwise (null: anonymously). */
  readonly auth: RegistryAuth | null;

  /**
   * `auth` undefined: the administrator of the registry at `baseUrl` when this process
   * started it (startRegistry, startRestartableRegistry) or E2E_REGISTRY_USER for an
   * external one, else none. null: never authenticate. HTTP Basic is sent on every
   * request (Distribution without auth ignores it).
   */
  constructor(
    readonly baseUrl: string,
    auth?: RegistryAuth | null,
  ) {
    this.auth = auth === undefined ? (credentialsFor(baseUrl) ?? null) : auth;
  }

  /** A client for the same registry that authenticates differently (violations are recorded separately). */
  withAuth(auth: RegistryAuth | null): RegistryClient {
    return new RegistryClient(this.baseUrl, auth);
  }

  /** Resolves a path or (relative or absolute) Location against the registry URL. */
  resolve(pathOrUrl: string): string {
    return new URL(pathOrUrl, this.baseUrl + '/').toString();
  }

  /**
   * Sends one request. `path` may be a path (`/v2/...`, sent verbatim) or an absolute URL
   * (e.g. a resolved Location).
   */
  request(method: string, path: string, opts: ReqOptions = {}): Promise<Res> {
    let target = new URL(this.baseUrl);
    let requestPath: string;
    if (/^https?:\/\//.test(path)) {
      target = new URL(path);
      requestPath = target.pathname + target.search;
    } else {
      requestPath = path;
    }
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...opts.headers };
    const authorization = authorizationOf(opts.auth === undefined ? this.auth : opts.auth);
    if (authorization && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) {
      headers.Authorization = authorization;
    }
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['Content-Length'] = String(body.length);
    }
    if (body === undefined && ['PUT', 'POST', 'PATCH'].includes(method)) {
      headers['Content-Length'] ??= '0';
    }
    return new Promise<Res>((resolvePromise, reject) => {
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method,
          path: requestPath,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let done = false;
          res.on('data', (c: Buffer) => chunks.push(c));
          // A server that announces more bytes than it sends (Distribution does on 416) aborts
          // the response: keep what arrived rather than failing the request.
          res.on('error', () => finish());
          res.on('end', () => finish());
          const finish = () => {
            if (done) return;
            done = true;
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (v === undefined) continue;
              if (Array.isArray(v)) for (const x of v) h.append(k, x);
              else h.set(k, v);
            }
            const buf = Buffer.concat(chunks);
            const text = buf.toString('utf8');
            const loc = h.get('location');
            const out: Res = {
              status: res.statusCode ?? 0,
              headers: h,
              body: buf,
              text,
              json: () => JSON.parse(text),
              location: loc ? this.resolve(loc) : undefined,
            };
            this.check(method, requestPath, out);
            resolvePromise(out);
          };
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  private check(method: string, path: string, res: Res): void {
    const where = `${method} ${path.slice(0, 120)} -> ${res.status}`;
    if (res.headers.get(API_VERSION_HEADER) !== 'registry/2.0') {
      this.violations.push(`${where}: missing Docker-Distribution-API-Version: registry/2.0`);
    }
    if (res.status >= 400 && method !== 'HEAD') {
      const ct = res.headers.get('content-type') ?? '';
      // Distribution answers unroutable paths with a plain-text 404; Berth must always send JSON.
      if (externalRegistry && !ct.includes('json')) return;
      let parsed: any;
      try {
        parsed = JSON.parse(res.text);
      } catch {
        this.violations.push(`${where}: error body is not JSON: ${res.text.slice(0, 80)}`);
        return;
      }
      const e = parsed?.errors?.[0];
      if (typeof e?.code !== 'string' || typeof e?.message !== 'string') {
        this.violations.push(`${where}: error body lacks errors[0].code/message: ${res.text.slice(0, 120)}`);
      }
    }
  }

  /** Returns and clears the recorded protocol violations. */
  takeViolations(): string[] {
    return this.violations.splice(0, this.violations.length);
  }

  get(path: string, opts?: ReqOptions) {
    return this.request('GET', path, opts);
  }
  head(path: string, opts?: ReqOptions) {
    return this.request('HEAD', path, opts);
  }
  put(path: string, opts?: ReqOptions) {
    return this.request('PUT', path, opts);
  }
  post(path: string, opts?: ReqOptions) {
    return this.request('POST', path, opts);
  }
  patch(path: string, opts?: ReqOptions) {
    return this.request('PATCH', path, opts);
  }
  delete(path: string, opts?: ReqOptions) {
    return this.request('DELETE', path, opts);
  }

  /** Opens an upload session; returns its absolute Location. */
  async startUpload(repo: string): Promise<string> {
    const res = await this.post(`/v2/${repo}/blobs/uploads/`);
    if (res.status !== 202 || !res.location) {
      throw new Error(`POST upload to ${repo}: ${res.status} ${res.text}`);
    }
    return res.location;
  }

  /** Pushes a blob with POST + monolithic PUT; returns its digest. */
  async pushBlob(repo: string, buf: Buffer | string): Promise<string> {
    const data = Buffer.isBuffer(buf) ? buf : Buffer.from(buf);
    const digest = sha256(data);
    const location = await this.startUpload(repo);
    const res = await this.put(withQuery(location, { digest }), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    if (res.status !== 201) throw new Error(`PUT blob to ${repo}: ${res.status} ${res.text}`);
    return digest;
  }

  /** PUTs a manifest (object, string or exact bytes) under a tag or digest. */
  async pushManifest(
    repo: string,
    ref: string,
    manifest: unknown,
    mediaType: string,
  ): Promise<Res & { digest: string; bytes: Buffer }> {
    const bytes = manifestBytes(manifest);
    const res = await this.put(`/v2/${repo}/manifests/${ref}`, {
      headers: { 'Content-Type': mediaType },
      body: bytes,
    });
    return Object.assign(res, { digest: sha256(bytes), bytes });
  }

  /** Pushes the blobs of an image and its manifest; throws unless the manifest PUT answers 201. */
  async pushImage(repo: string, ref: string, image: TestImage = buildImage()): Promise<TestImage> {
    for (const b of image.blobs) await this.pushBlob(repo, b);
    const res = await this.pushManifest(repo, ref, image.manifestBytes, image.mediaType);
    if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${ref}: ${res.status} ${res.text}`);
    return image;
  }
}

export function manifestBytes(manifest: unknown): Buffer {
  if (Buffer.isBuffer(manifest)) return manifest;
  if (typeof manifest === 'string') return Buffer.from(manifest);
  return Buffer.from(JSON.stringify(manifest, null, 2));
}

/** Adds query parameters to a (possibly already parameterised) absolute URL. */
export function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export interface TestImage {
  config: Buffer;
  layers: Buffer[];
  /** config then layers, all to be pushed before the manifest. */
  blobs: Buffer[];
  manifest: Record<string, any>;
  manifestBytes: Buffer;
  mediaType: string;
  digest: string;
  descriptor: Descriptor;
}

export interface ImageOptions {
  layers?: number;
  layerSize?: number;
  /** OCI (default) or Docker schema2 media types. */
  format?: 'oci' | 'docker';
  artifactType?: string;
  configMediaType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Builds an image from random bytes: a config blob, N layers and a manifest referencing them. */
export function buildImage(opts: ImageOptions = {}): TestImage {
  const docker = opts.format === 'docker';
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: [`NONCE=${randomBytes(8).toString('hex')}`] },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const layers = Array.from({ length: opts.layers ?? 2 }, () => randomBytes(opts.layerSize ?? 1024));
  const configMediaType = opts.configMediaType ?? (docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig);
  const layerMediaType = docker ? MediaTypes.dockerLayer : MediaTypes.ociLayer;
  const mediaType = docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
  const manifest: Record<string, any> = {
    schemaVersion: 2,
    mediaType,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: { mediaType: configMediaType, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: layerMediaType, digest: sha256(l), size: l.length })),
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const bytes = manifestBytes(manifest);
  const digest = sha256(bytes);
  return {
    config,
    layers,
    blobs: [config, ...layers],
    manifest,
    manifestBytes: bytes,
    mediaType,
    digest,
    descriptor: { mediaType, digest, size: bytes.length },
  };
}

/** Builds an index (OCI image index or Docker manifest list) over the given manifests. */
export function buildIndex(children: Descriptor[], format: 'oci' | 'docker' = 'oci') {
  const mediaType = format === 'docker' ? MediaTypes.dockerList : MediaTypes.ociIndex;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map((d, i) => ({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      platform: d.platform ?? { architecture: i % 2 ? 'arm64' : 'amd64', os: 'linux' },
    })),
  };
  const bytes = manifestBytes(manifest);
  return { manifest, manifestBytes: bytes, mediaType, digest: sha256(bytes), size: bytes.length };
}

/** The first error code of an error response ('' when the body has none). */
export function errorCode(res: Res): string {
  try {
    return (JSON.parse(res.text) as ErrorBody).errors?.[0]?.code ?? '';
  } catch {
    return '';
  }
}

/** Parses `Link: <url>; rel="next"`; returns the target path and its query parameters. */
export function parseNextLink(link: string | null): { path: string; params: URLSearchParams; raw: string } | undefined {
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (!m) throw new Error(`unparsable Link header: ${link}`);
  const u = new URL(m[1], 'http://registry.invalid');
  return { path: u.pathname, params: u.searchParams, raw: m[1] };
}

export interface RegistryContext {
  /** Client for the registry of this file (set in beforeAll). */
  readonly c: RegistryClient;
  readonly registry: TestRegistry;
}

/**
 * Starts one registry for the enclosing describe block (beforeAll) and closes it (afterAll).
 * After each test, asserts that every response seen carried
 * `Docker-Distribution-API-Version: registry/2.0` and that every error body had
 * `errors[0].code` and `errors[0].message`.
 */
export function useRegistry(options?: StartOptions): RegistryContext {
  let registry: TestRegistry | undefined;
  let client: RegistryClient | undefined;
  beforeAll(async () => {
    registry = await startRegistry(options);
    client = new RegistryClient(registry.url, registry.admin ?? null);
  });
  afterAll(async () => {
    await registry?.close();
  });
  afterEach(() => {
    const problems = client?.takeViolations() ?? [];
    expect(problems, 'protocol violations on responses of this test').toEqual([]);
  });
  return {
    get c() {
      if (!client) throw new Error('registry not started');
      return client;
    },
    get registry() {
      if (!registry) throw new Error('registry not started');
      return registry;
    },
  };
}

/** Asserts an OCI error response: status, first error code (one of `codes`) and a message. */
export function expectError(res: Res, status: number, ...codes: string[]): ErrorBody {
  expect(res.status, `${res.status} ${res.text.slice(0, 300)}`).toBe(status);
  const body = res.json<ErrorBody>();
  expect(Array.isArray(body.errors)).toBe(true);
  expect(typeof body.errors[0]?.message).toBe('string');
  if (codes.length) expect(codes).toContain(body.errors[0].code);
  return body;
}
