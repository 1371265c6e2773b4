import type { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * An ioredis client for the maintenance queue or its worker that reports an outage once,
 * not at every reconnection attempt. BullMQ is handed clients, which this module closes
 * itself, so that closing never waits for a Redis that is gone.
 */
export function createMaintenanceClient(url: string, purpose: string, logger: Logger, options: RedisOptions): Redis {
  const client = new Redis(url, { connectionName: `berth-${purpose}`, lazyConnect: true, ...options });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) logger.warn(`Redis (${purpose}) is unreachable: ${err.message}; retrying`);
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.log(`Redis (${purpose}) is reachable again`);
    down = false;
  });
  return client;
}

/** QUIT when Redis answers, else drop the connection. */
export async function closeMaintenanceClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}
