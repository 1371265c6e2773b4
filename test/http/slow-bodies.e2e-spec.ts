/**
 * Time limits on request bodies, over raw sockets so the test controls every byte and
 * every pause. The registry runs with a 1 s idle timeout and a 2 s deadline for bodies
 * read before authentication; Node's keep-alive timeout stays at its 5 s default.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, sha256, uniq } from '../support/http.js';
import { type InProcessRegistry, basicAuth, postgresAvailable, startInProcessRegistry } from '../support/registry.js';

const available = await postgresAvailable();
if (!available) console.warn('[slow bodies] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL.');

const IDLE_MS = 1000;
const DEADLINE_MS = 2000;
/** How much later than its limit a connection may close (the check runs every 100 ms; this is generous for a busy machine). */
const SLACK_MS = 2500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One TCP connection to the registry: what it received, and when it closed. */
class RawConnection {
  received = '';
  closedAt?: number;
  private readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => (this.received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  write(data: string | Buffer): void {
    if (!this.isClosed) this.socket.write(data);
  }

  /** Resolves true when the connection closes within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), sleep(ms).then(() => false)]);
  }

  /** Waits until `count` complete responses (status lines) have arrived, or `ms` passed. */
  async responses(count: number, ms: number): Promise<number[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const statuses = [...this.received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      if (statuses.length >= count || Date.now() > deadline || this.isClosed) return statuses;
      await sleep(20);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A request head; the body follows separately. */
function head(method: string, path: string, host: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

describe.skipIf(!available)('slow request bodies', () => {
  let registry: InProcessRegistry;
  let port: number;
  let client: RegistryClient;
  const open: RawConnection[] = [];

  beforeAll(async () => {
    registry = await startInProcessRegistry({
      storageDriver: 'filesystem',
      env: { BODY_IDLE_TIMEOUT_SECONDS: String(IDLE_MS / 1000), BODY_DEADLINE_SECONDS: String(DEADLINE_MS / 1000) },
    });
    port = Number(new URL(registry.url).port);
    client = new RegistryClient(registry.url, registry.admin);
  });
  afterAll(async () => {
    for (const connection of open) connection.destroy();
    await registry?.close();
  });

  async function connect(): Promise<RawConnection> {
    const connection = await RawConnection.open(port);
    open.push(connection);
    return connection;
  }

  /** Sends `body` a byte at a time, `everyMs` apart (more often than the idle timeout), until the connection closes or `forMs` passed. */
  async function trickle(connection: RawConnection, body: string, everyMs: number, forMs: number): Promise<void> {
    const until = Date.now() + forMs;
    for (let i = 0; i < body.length && !connection.isClosed && Date.now() < until; i++) {
      connection.write(body[i]);
      await sleep(everyMs);
    }
  }

  for (const [name, path, contentType, body] of [
    ['the admin API login', '/api/v1/auth/login', 'application/json', JSON.stringify({ username: 'admin', password: 'x'.repeat(200) })],
    ['the token endpoint (OAuth2 password grant)', '/auth/token', 'application/x-www-form-urlencoded', `grant_type=password&username=admin&password=${'x'.repeat(200)}`],
    ['the token endpoint with a trailing slash (the same route)', '/auth/token/', 'application/x-www-form-urlencoded', `grant_type=password&username=admin&password=${'x'.repeat(200)}`],
  ] as const) {
    it(`a body trickling into ${name} without credentials is answered 408 and closed at the deadline, although never idle`, async () => {
      const connection = await connect();
      const started = Date.now();
      connection.write(head('POST', path, registry.host, { 'Content-Type': contentType, 'Content-Length': body.length }));
      // A byte every 300 ms never goes idle for a second, and would take a minute to finish.
      await trickle(connection, body, 300, DEADLINE_MS + SLACK_MS);
      expect(await connection.closesWithin(DEADLINE_MS + SLACK_MS - (Date.now() - started))).toBe(true);
      const elapsed = connection.closedAt! - started;
      expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
      expect(elapsed).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect(await connection.responses(1, 0)).toEqual([408]);
      expect(connection.received).toContain('did not arrive in time');
    });
  }

  it('an admin API body over 64 KiB is refused with 413 before authentication', async () => {
    const res = await fetch(`${registry.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'x'.repeat(70 * 1024) }),
    });
    expect(res.status).toBe(413);
  });

  it('an unauthenticated upload body that goes on trickling after its 401 is closed at the deadline', async () => {
    const connection = await connect();
    const started = Date.now();
    const repo = `${uniq('anon')}/app`;
    connection.write(head('PATCH', `/v2/${repo}/blobs/uploads/${crypto.randomUUID()}`, registry.host, { 'Content-Type': 'application/octet-stream', 'Content-Length': 10_000 }));
    await trickle(connection, 'x'.repeat(10_000), 300, DEADLINE_MS + SLACK_MS);
    expect(await connection.closesWithin(DEADLINE_MS + SLACK_MS - (Date.now() - started))).toBe(true);
    expect(connection.closedAt! - started).toBeLessThan(DEADLINE_MS + SLACK_MS);
    expect(await connection.responses(1, 0)).toEqual([401]);
  });

  it('an authenticated upload body that pauses longer than the idle timeout is closed, and counts as a cut-off PATCH', async () => {
    const repo = `${uniq('stalled')}/app`;
    const data = randomBytes(64 * 1024);
    const location = new URL(await client.startUpload(repo));
    const connection = await connect();
    connection.write(
      head('PATCH', location.pathname + location.search, registry.host, {
        Authorization: basicAuth(registry.admin),
        'Content-Type': 'application/octet-stream',
        'Content-Length': data.length,
      }),
    );
    connection.write(data.subarray(0, 20_000));
    const paused = Date.now();
    expect(await connection.closesWithin(IDLE_MS + SLACK_MS)).toBe(true);
    expect(connection.closedAt! - paused).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(await connection.responses(1, 0)).toEqual([408]);
    // The session still counts nothing, and the retried chunk completes the blob.
    const status = await client.get(location.toString());
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    const patched = await client.patch(location.toString(), { headers: { 'Content-Type': 'application/octet-stream' }, body: data });
    expect(patched.status).toBe(202);
    const done = await client.put(`${patched.location}${patched.location!.includes('?') ? '&' : '?'}digest=${sha256(data)}`);
    expect(done.status).toBe(201);
  });

  it('a slow but steady upload body is never cut (longer than the deadline and the idle timeout), and the connection is kept alive after it', async () => {
    const repo = `${uniq('steady')}/app`;
    const data = randomBytes(16 * 1024);
    const location = new URL(await client.startUpload(repo));
    const connection = await connect();
    const started = Date.now();
    connection.write(
      head('PATCH', location.pathname + location.search, registry.host, {
        Authorization: basicAuth(registry.admin),
        'Content-Type': 'application/octet-stream',
        'Content-Length': data.length,
      }),
    );
    // 16 chunks, 300 ms apart: about 4.8 s in all, never a second without bytes.
    const chunk = data.length / 16;
    for (let i = 0; i < 16; i++) {
      expect(connection.isClosed, `closed after ${Date.now() - started} ms`).toBe(false);
      connection.write(data.subarray(i * chunk, (i + 1) * chunk));
      await sleep(300);
    }
    expect(Date.now() - started).toBeGreaterThan(DEADLINE_MS + IDLE_MS);
    expect(await connection.responses(1, 10_000)).toEqual([202]);
    expect(connection.received).toContain(`Range: 0-${data.length - 1}`);

    // Idle between requests for longer than the body idle timeout, within keep-alive's 5 s: the connection serves the next request.
    await sleep(IDLE_MS + 500);
    expect(connection.isClosed).toBe(false);
    connection.write(head('GET', '/v2/', registry.host, { Authorization: basicAuth(registry.admin) }));
    expect(await connection.responses(2, 10_000)).toEqual([202, 200]);
    expect(connection.isClosed).toBe(false);
  });

  it('keep-alive works for a real client: consecutive requests share one connection', async () => {
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
    const http = await import('node:http');
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request(`${registry.url}/v2/`, { agent, headers: { Authorization: basicAuth(registry.admin) } }, (res) => {
          ports.push(res.socket.localPort!);
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
      await sleep(IDLE_MS + 200);
    }
    agent.destroy();
    expect(new Set(ports).size).toBe(1);
  });

  it('many bodies on one keep-alive connection leave no listener behind on its socket', async () => {
    const server = registry.app.getHttpServer() as import('node:http').Server;
    const sockets: net.Socket[] = [];
    const onConnection = (socket: net.Socket) => sockets.push(socket);
    server.on('connection', onConnection);
    const connection = await connect();
    const requests = 30;
    for (let i = 0; i < requests; i++) {
      const body = JSON.stringify({ username: 'nobody', password: `wrong-${i}` });
      connection.write(head('POST', '/api/v1/auth/login', registry.host, { 'Content-Type': 'application/json', 'Content-Length': body.length }));
      connection.write(body);
      expect((await connection.responses(i + 1, 10_000)).length).toBe(i + 1);
    }
    server.off('connection', onConnection);
    expect(sockets).toHaveLength(1);
    // Node's own listeners are a handful; one per request would be 30 more.
    expect(sockets[0].listenerCount('close')).toBeLessThan(5);
  });
});
