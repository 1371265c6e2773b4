import type { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';

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

/** Closes a client politely, or drops it when Redis is not there to answer QUIT. */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}
