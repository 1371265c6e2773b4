/** The BullMQ queue of scheduled maintenance, and the @nestjs/bullmq configuration key of its connection. */
export const MAINTENANCE_QUEUE = 'berth-maintenance';
export const MAINTENANCE_CONFIG_KEY = 'berth-maintenance';

/** Job names, which are also the ids of their job schedulers. */
export const MAINTENANCE_TASKS = ['gc', 'purge-uploads'] as const;
export type MaintenanceTask = (typeof MAINTENANCE_TASKS)[number];

/** Redis connection options from REDIS_URL; BullMQ makes its own clients from them (and closes them). */
export function redisConnection(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: Number(u.pathname.slice(1) || 0),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
