/**
 * Helpers for the pull-through cache's suites: a Berth with proxy namespaces allowed to
 * reach 127.0.0.1, and the admin calls that create and change them.
 */
import { expect } from 'vitest';
import { type InProcessRegistry, basicAuth, startInProcessRegistry } from '../support/registry.js';

/** A Berth whose proxy namespaces may use upstreams on this machine (PROXY_ALLOW_PRIVATE_TARGETS). */
export function startCachingRegistry(env: Record<string, string> = {}): Promise<InProcessRegistry> {
  return startInProcessRegistry({ env: { PROXY_ALLOW_PRIVATE_TARGETS: 'true', ...env } });
}

/** Calls the admin API as the registry's administrator; returns status and JSON body. */
export async function adminCall(registry: InProcessRegistry, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${registry.url}/api/v1${path}`, {
    method,
    headers: { authorization: basicAuth(registry.admin), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Creates a public proxy namespace `name` over `upstream` (fields as POST /api/v1/namespaces takes them). */
export async function createProxyNamespace(registry: InProcessRegistry, name: string, upstream: Record<string, unknown>, visibility = 'public'): Promise<any> {
  const res = await adminCall(registry, 'POST', '/namespaces', { name, kind: 'proxy', visibility, upstream });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export type FaultMode = 'pass' | 'unavailable' | 'throttled' | 'refuse' | 'corrupt-blobs';

/**
 * A small HTTP server in front of an upstream registry that counts the requests it
 * forwards (by method and path) and plays faults: 503 or 429 answers, refused
 * connections, blob bytes changed on the way, or blob bodies held after their first
 * bytes until `release()`.
 */
export class CountingUpstream {
  readonly counts = new Map<string, number>();
  mode: FaultMode = 'pass';
  /** Blob GETs send this many bytes, then wait for release(). */
  holdBlobsAfter: number | null = null;
  private waiting: (() => void)[] = [];
  private constructor(
    private readonly server: import('node:http').Server,
    readonly url: string,
    readonly host: string,
  ) {}

  static async start(target: string): Promise<CountingUpstream> {
    const http = await import('node:http');
    const targetUrl = new URL(target);
    let self: CountingUpstream;
    const server = http.createServer((req, res) => self.forward(http, targetUrl, req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    self = new CountingUpstream(server, `http://127.0.0.1:${port}`, `127.0.0.1:${port}`);
    return self;
  }

  /** How many `METHOD /v2/…` requests matched `pattern` (a substring of "METHOD path"). */
  count(pattern: string): number {
    let n = 0;
    for (const [key, value] of this.counts) if (key.includes(pattern)) n += value;
    return n;
  }

  reset(): void {
    this.counts.clear();
  }

  release(): void {
    this.holdBlobsAfter = null;
    for (const resume of this.waiting.splice(0)) resume();
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private forward(http: typeof import('node:http'), target: URL, req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const key = `${req.method} ${path}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (this.mode === 'refuse') return void req.socket.destroy();
    if (this.mode === 'unavailable' || this.mode === 'throttled') {
      res.writeHead(this.mode === 'unavailable' ? 503 : 429, { 'content-type': 'application/json', ...(this.mode === 'throttled' ? { 'retry-after': '30' } : {}) });
      return void res.end('{"errors":[{"code":"UNAVAILABLE","message":"fault"}]}');
    }
    const isBlobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(path);
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (up) => {
      const headers = { ...up.headers };
      if (typeof headers.location === 'string') headers.location = headers.location.replace(target.origin, `http://${this.host}`);
      res.writeHead(up.statusCode ?? 502, headers);
      if (!isBlobGet || up.statusCode !== 200) return void up.pipe(res);
      let sent = 0;
      let corrupted = false;
      up.on('data', (chunk: Buffer) => {
        let out = chunk;
        if (this.mode === 'corrupt-blobs' && !corrupted) {
          out = Buffer.from(chunk);
          out[0] ^= 0xff;
          corrupted = true;
        }
        const hold = this.holdBlobsAfter;
        if (hold !== null && sent + out.length > hold) {
          const first = out.subarray(0, Math.max(0, hold - sent));
          const rest = out.subarray(first.length);
          if (first.length) res.write(first);
          sent += first.length;
          up.pause();
          this.waiting.push(() => {
            res.write(rest);
            sent += rest.length;
            up.resume();
          });
          return;
        }
        res.write(out);
        sent += out.length;
      });
      up.on('end', () => {
        const finish = () => res.end();
        if (this.holdBlobsAfter !== null || this.waiting.length) this.waiting.push(finish);
        else finish();
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}
