/**
 * Blob pulls over the zero-copy path (sendfile(2) from the filesystem driver, on a thread
 * of the addon's own) and over the stream path it falls back to, through real HTTP to the
 * real app. The blob is larger than the socket buffers, so the sending thread has to wait
 * for the client (EAGAIN, poll) many times.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_SENDFILE_TRANSFERS, bytesSentByFile, sendfileAvailable } from '@berth/storage';
import { RegistryClient, uniq } from '../support/http.js';
import { type InProcessRegistry, basicAuth, postgresAvailable, startInProcessRegistry } from '../support/registry.js';

const available = await postgresAvailable();
if (!available) console.warn('[zero-copy pull] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL.');
if (!sendfileAvailable()) console.warn('[zero-copy pull] the berth-sendfile addon is not built: only the stream path is tested');

const SIZE = 24 * 1024 * 1024 + 12_345;
const blob = randomBytes(SIZE);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const openFds = () => readdirSync('/proc/self/fd').length;
const threads = () => readdirSync('/proc/self/task').length;

/** Waits until `read()` comes back to `baseline` (a finished transfer closes its dups and ends its thread). */
async function settlesTo(read: () => number, baseline: number, ms = 10_000): Promise<number> {
  const until = Date.now() + ms;
  while (read() > baseline && Date.now() < until) await sleep(50);
  return read();
}

interface Pulled {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  reusedSocket: boolean;
}

/** The server-side sockets of a registry, to see how their bytes went out. */
function serverSockets(registry: InProcessRegistry): net.Socket[] {
  const sockets: net.Socket[] = [];
  registry.app.getHttpServer().on('connection', (socket: net.Socket) => sockets.push(socket));
  return sockets;
}

function pull(registry: InProcessRegistry, path: string, headers: Record<string, string> = {}, agent?: http.Agent): Promise<Pulled> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${registry.url}${path}`, { agent, headers: { Authorization: basicAuth(registry.admin), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), reusedSocket: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Reads `count` responses with Content-Length bodies off a raw connection. */
function readResponses(socket: net.Socket, count: number): Promise<{ status: number; body: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const out: { status: number; body: Buffer }[] = [];
    let chunks: Buffer[] = [];
    let buffered = 0;
    // Joined only once `needed` bytes are in: joining per chunk would copy 24 MiB hundreds of times.
    let needed = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      buffered += chunk.length;
      while (buffered >= needed) {
        const all = Buffer.concat(chunks);
        chunks = [all];
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) return void (needed = buffered + 1);
        const head = all.subarray(0, end).toString('latin1');
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered < end + 4 + length) return void (needed = end + 4 + length);
        out.push({ status: Number(head.slice(9, 12)), body: all.subarray(end + 4, end + 4 + length) });
        chunks = [all.subarray(end + 4 + length)];
        buffered = chunks[0].length;
        needed = 0;
        if (out.length === count) return resolve(out);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection closed after ${out.length} of ${count} responses`)));
  });
}

describe.skipIf(!available)('blob pulls, zero-copy and streamed', () => {
  let zeroCopy: InProcessRegistry;
  let streamed: InProcessRegistry;
  let zeroCopySockets: net.Socket[];
  let streamedSockets: net.Socket[];
  const logLines: Record<string, unknown>[] = [];
  const repo = uniq('zerocopy');
  const blobPath = `/v2/${repo}/blobs/${digest}`;

  beforeAll(async () => {
    zeroCopy = await startInProcessRegistry({
      storageDriver: 'filesystem',
      env: { BODY_IDLE_TIMEOUT_SECONDS: '1', LOG_LEVEL: 'log' },
      logDestination: { write: (line) => void logLines.push(JSON.parse(line)) },
    });
    streamed = await startInProcessRegistry({ storageDriver: 'filesystem', env: { STORAGE_SENDFILE: 'false' } });
    zeroCopySockets = serverSockets(zeroCopy);
    streamedSockets = serverSockets(streamed);
    for (const registry of [zeroCopy, streamed]) await new RegistryClient(registry.url, registry.admin).pushBlob(repo, blob);
  });
  afterAll(async () => {
    await zeroCopy?.close();
    await streamed?.close();
  });

  it.runIf(sendfileAvailable())('sends a whole blob with sendfile: the bytes match the digest and the log counts them', async () => {
    const before = zeroCopySockets.length;
    const res = await pull(zeroCopy, blobPath, { 'X-Request-Id': 'zero-copy-whole' });
    expect(res.status).toBe(200);
    expect(Number(res.headers['content-length'])).toBe(SIZE);
    expect(`sha256:${createHash('sha256').update(res.body).digest('hex')}`).toBe(digest);
    // The body went around Node's socket writes: only the headers passed through them.
    const socket = zeroCopySockets[before];
    // Counted when the sending thread's completion reaches the event loop, which can be after this client has read every byte.
    await vi.waitFor(() => expect(bytesSentByFile(socket)).toBe(SIZE), { timeout: 5000 });
    expect(socket.bytesWritten).toBeLessThan(4096);
    await sleep(50);
    const line = logLines.find((l) => l.requestId === 'zero-copy-whole');
    expect(line).toMatchObject({ status: 200, outcome: 'success' });
    expect(line!.bytesOut as number).toBeGreaterThan(SIZE);
    expect(line!.bytesOut as number).toBeLessThan(SIZE + 4096);
  });

  it('sends a range (206) with sendfile, from the offset, exactly the length', async () => {
    const start = 1_000_003;
    const end = SIZE - 77;
    const res = await pull(zeroCopy, blobPath, { Range: `bytes=${start}-${end}` });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(res.body.equals(blob.subarray(start, end + 1))).toBe(true);
  });

  it('answers a second request on the same keep-alive connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await pull(zeroCopy, blobPath, {}, agent);
      const second = await pull(zeroCopy, blobPath, { Range: 'bytes=0-99' }, agent);
      const third = await pull(zeroCopy, '/v2/', {}, agent);
      expect(first.body.equals(blob)).toBe(true);
      expect([second.status, second.reusedSocket]).toEqual([206, true]);
      expect(second.body.equals(blob.subarray(0, 100))).toBe(true);
      expect([third.status, third.reusedSocket]).toEqual([200, true]);
    } finally {
      agent.destroy();
    }
  });

  it('answers pipelined requests in order, with the right bytes', async () => {
    const socket = net.connect(Number(new URL(zeroCopy.url).port), '127.0.0.1');
    try {
      const auth = basicAuth(zeroCopy.admin);
      const request = (range: string) => `GET ${blobPath} HTTP/1.1\r\nHost: ${zeroCopy.host}\r\nAuthorization: ${auth}\r\nRange: ${range}\r\n\r\n`;
      const responses = readResponses(socket, 3);
      socket.write(request(`bytes=0-${SIZE - 1}`) + request('bytes=5-15') + request(`bytes=${SIZE - 10}-`));
      const [whole, middle, tail] = await responses;
      expect([whole.status, middle.status, tail.status]).toEqual([206, 206, 206]);
      expect(whole.body.equals(blob)).toBe(true);
      expect(middle.body.equals(blob.subarray(5, 16))).toBe(true);
      expect(tail.body.equals(blob.subarray(SIZE - 10))).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it('survives a client that goes away mid-transfer: no descriptor or thread is left, the next pull is whole', async () => {
    const fds = openFds();
    const tasks = threads();
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${zeroCopy.url}${blobPath}`, { headers: { Authorization: basicAuth(zeroCopy.admin) } }, (res) => {
          let received = 0;
          res.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > 1024 * 1024) {
              req.destroy();
              resolve();
            }
          });
        });
        req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      });
    }
    expect(await settlesTo(threads, tasks)).toBeLessThanOrEqual(tasks);
    expect(await settlesTo(openFds, fds)).toBeLessThanOrEqual(fds);
    const res = await pull(zeroCopy, blobPath);
    expect(res.body.equals(blob)).toBe(true);
  });

  it.runIf(sendfileAvailable())('cuts off a client that reads nothing for the idle timeout, and ends its thread', async () => {
    const tasks = threads();
    const before = zeroCopySockets.length;
    const socket = net.connect(Number(new URL(zeroCopy.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`GET ${blobPath} HTTP/1.1\r\nHost: ${zeroCopy.host}\r\nAuthorization: ${basicAuth(zeroCopy.admin)}\r\n\r\n`);
    // Never read: the socket buffers fill, and the sending thread waits in poll.
    socket.pause();
    const started = Date.now();
    try {
      while (zeroCopySockets.length === before) await sleep(10);
      const server = zeroCopySockets[before];
      const closedAt = await Promise.race([new Promise<number>((resolve) => server.once('close', () => resolve(Date.now()))), sleep(8000).then(() => 0)]);
      expect(closedAt).toBeGreaterThan(0);
      expect(closedAt - started).toBeGreaterThanOrEqual(900);
      expect(bytesSentByFile(server)).toBeLessThan(SIZE);
    } finally {
      socket.destroy();
    }
    expect(await settlesTo(threads, tasks)).toBeLessThanOrEqual(tasks);
  });

  it.runIf(sendfileAvailable())('runs at most MAX_SENDFILE_TRANSFERS threads: the pulls beyond stream, with the right bytes', async () => {
    // A registry of its own, with the default idle timeout: these clients wait a while before reading.
    const registry = await startInProcessRegistry({ storageDriver: 'filesystem' });
    const accepted = serverSockets(registry);
    await new RegistryClient(registry.url, registry.admin).pushBlob(repo, blob).catch(async (err: unknown) => {
      await registry.close();
      throw err;
    });
    const before = accepted.length;
    const tasks = threads();
    const clients = MAX_SENDFILE_TRANSFERS + 6;
    const port = Number(new URL(registry.url).port);
    const request = `GET ${blobPath} HTTP/1.1\r\nHost: ${registry.host}\r\nAuthorization: ${basicAuth(registry.admin)}\r\nConnection: close\r\n\r\n`;
    const sockets = Array.from({ length: clients }, () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.pause();
      socket.write(request);
      return socket;
    });
    try {
      // Nobody reads yet: every transfer stalls on full socket buffers, so none ends and frees its thread.
      const until = Date.now() + 20_000;
      while ((accepted.length - before < clients || threads() < tasks + MAX_SENDFILE_TRANSFERS) && Date.now() < until) await sleep(50);
      await sleep(500);
      expect(threads() - tasks).toBeLessThanOrEqual(MAX_SENDFILE_TRANSFERS);
      const bodies = sockets.map(
        (socket) =>
          new Promise<string>((resolve, reject) => {
            const hash = createHash('sha256');
            let head = Buffer.alloc(0);
            let inBody = false;
            socket.on('data', (chunk: Buffer) => {
              if (inBody) return void hash.update(chunk);
              head = Buffer.concat([head, chunk]);
              const end = head.indexOf('\r\n\r\n');
              if (end < 0) return;
              inBody = true;
              hash.update(head.subarray(end + 4));
            });
            socket.on('end', () => resolve(`sha256:${hash.digest('hex')}`));
            socket.on('error', reject);
          }),
      );
      for (const socket of sockets) socket.resume();
      expect(await Promise.all(bodies)).toEqual(Array(clients).fill(digest));
      const served = accepted.slice(before);
      expect(served.filter((socket) => bytesSentByFile(socket) === SIZE)).toHaveLength(MAX_SENDFILE_TRANSFERS);
      expect(served.filter((socket) => bytesSentByFile(socket) === 0 && socket.bytesWritten > SIZE)).toHaveLength(clients - MAX_SENDFILE_TRANSFERS);
      expect(await settlesTo(threads, tasks)).toBeLessThanOrEqual(tasks);
    } finally {
      for (const socket of sockets) socket.destroy();
      await registry.close();
    }
  }, 90_000);

  it('the stream fallback (STORAGE_SENDFILE=false) gives the same bytes, through Node', async () => {
    const before = streamedSockets.length;
    const whole = await pull(streamed, blobPath);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(blob)).toBe(true);
    expect(bytesSentByFile(streamedSockets[before])).toBe(0);
    expect(streamedSockets[before].bytesWritten).toBeGreaterThan(SIZE);
    const range = await pull(streamed, blobPath, { Range: 'bytes=7-1048583' });
    expect(range.status).toBe(206);
    expect(range.body.equals(blob.subarray(7, 1048584))).toBe(true);
  });
});
