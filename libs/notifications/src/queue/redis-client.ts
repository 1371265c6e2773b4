import type { Logger } from '@nestjs/common';
import type { Worker } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

/** How long QUIT may wait for its answer before the connection is dropped. */
const QUIT_TIMEOUT_MS = 2000;
/** How long a Redis that is there takes at most to answer a PING at shutdown. */
const PING_TIMEOUT_MS = 1000;

/**
 * An ioredis client that reports an outage once (not at every reconnection attempt)
 * and its recovery. BullMQ is handed clients rather than options because its ESM
 * build cannot load ioredis by itself.
 */
export function createRedisClient(url: string, purpose: string, logger: Logger, options: RedisOptions = {}): Redis {
  const client = new Redis(url, { connectionName: `berth-${purpose}`, ...options });
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn(`Redis (${purpose}) is unreachable: ${err.message}; retrying`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log(`Redis (${purpose}) is reachable again`);
  });
  return client;
}

/** A Redis URL fit for a log line: no user name or password. */
export function redactRedisUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

/**
 * Closes a client politely, or drops it when Redis is not there to answer QUIT (also when
 * Redis went away so recently that the client still counts itself ready).
 */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') await within(client.quit(), QUIT_TIMEOUT_MS, undefined);
  client.disconnect();
}

/**
 * Closes a BullMQ worker whose jobs run on `client`: gracefully (the running jobs finish,
 * for up to `graceMs`) when Redis answers a PING at once, else by force, so that a
 * shutdown never waits for a Redis that is gone. BullMQ's graceful close would: a client
 * can still count itself ready just after Redis died, and the close then waits on the
 * worker's own blocking connection, which is reconnecting and never ends. A close given
 * up at `graceMs` goes on in the background (BullMQ starts no second one).
 */
export async function closeWorker(worker: Worker, client: Redis, graceMs: number): Promise<void> {
  const answering = client.status === 'ready' && (await within(client.ping().then(() => true), PING_TIMEOUT_MS, false));
  await within(worker.close(!answering).then(() => true), answering ? graceMs : PING_TIMEOUT_MS, false);
}

/** `work`'s outcome, or `fallback` once it has taken `ms` or failed. */
async function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([work.catch(() => fallback), expired]);
  } finally {
    clearTimeout(timer);
  }
}
