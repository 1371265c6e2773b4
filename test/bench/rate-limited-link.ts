/**
 * A bandwidth-limited link for figure 8's 8d/8e: a TCP forwarder on 127.0.0.1 in front of
 * the upstream that paces the bytes it forwards to a fixed rate, as a network link between
 * a proxy and Docker Hub would. One token bucket per direction is shared by every
 * connection, so the link's capacity is shared too (a proxy that fetches a blob twice at
 * once gets half of it for each fetch). It only limits bandwidth: no latency is added.
 *
 * Memory stays bounded: each direction is a stream pipeline (socket → pacer → socket), so a
 * slow reader stops the reads on the other side (backpressure) instead of buffering.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Scope } from './cleanup.js';

/**
 * The bytes a direction may send at once after being idle: 10 ms of traffic (at least
 * 64 KiB), enough to absorb timer slack (setTimeout sleeps at least 1 ms) without letting
 * a large transfer run noticeably faster than the rate.
 */
const burstBytes = (bytesPerSec: number) => Math.max(64 * 1024, Math.round(bytesPerSec / 100));

/** Bytes per second on average, at most `burst` bytes at once. Callers are served in order (FIFO). */
class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly bytesPerSec: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Resolves when `bytes` may be sent. The bucket may go into debt: the wait pays it back. */
  take(bytes: number): Promise<void> {
    const turn = this.queue.then(async () => {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSec);
      this.last = now;
      this.tokens -= bytes;
      if (this.tokens < 0) await sleep((-this.tokens / this.bytesPerSec) * 1000);
    });
    this.queue = turn;
    return turn;
  }
}

/** Passes chunks on no faster than the bucket allows; counts them. */
class Pacer extends Transform {
  constructor(
    private readonly bucket: TokenBucket,
    private readonly count: (bytes: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bucket.take(chunk.length).then(() => {
      this.count(chunk.length);
      done(null, chunk);
    }, done);
  }
}

export interface LinkCounters {
  /** Bytes forwarded from the upstream to the clients (the proxies' fetches, the direct pulls). */
  down: number;
  /** Bytes forwarded from the clients to the upstream. */
  up: number;
  connections: number;
}

export interface RateLimitedLink {
  /** http://127.0.0.1:<port>: the upstream, through the link. */
  url: string;
  bytesPerSec: number;
  burstBytes: number;
  /** Running totals since the link started. */
  counters: LinkCounters;
}

/**
 * Starts the forwarder to `upstreamUrl`'s host and port, limited to `bytesPerSec` in each
 * direction; it is closed (every connection destroyed) when `scope` closes.
 */
export async function startRateLimitedLink(scope: Scope, upstreamUrl: string, bytesPerSec: number): Promise<RateLimitedLink> {
  const upstream = new URL(upstreamUrl);
  const burst = burstBytes(bytesPerSec);
  const downBucket = new TokenBucket(bytesPerSec, burst);
  const upBucket = new TokenBucket(bytesPerSec, burst);
  const counters: LinkCounters = { down: 0, up: 0, connections: 0 };
  const open = new Set<Socket>();

  // allowHalfOpen: a side that has finished sending (FIN) may still receive the rest of the answer.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    counters.connections++;
    const remote = connect({ host: upstream.hostname, port: Number(upstream.port), allowHalfOpen: true });
    for (const socket of [client, remote]) {
      socket.setNoDelay(true);
      open.add(socket);
      socket.once('close', () => open.delete(socket));
    }
    // Either direction failing (a reset, the upstream gone) ends the whole connection.
    const fail = (err: Error | null) => {
      if (!err) return;
      client.destroy();
      remote.destroy();
    };
    pipeline(client, new Pacer(upBucket, (n) => (counters.up += n)), remote, fail);
    pipeline(remote, new Pacer(downBucket, (n) => (counters.down += n)), client, fail);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  scope.defer('close the rate-limited link', async () => {
    const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    for (const socket of open) socket.destroy();
    await closed;
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, bytesPerSec, burstBytes: burst, counters };
}
