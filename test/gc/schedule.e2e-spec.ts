/**
 * Scheduled runs: with REDIS_URL, BullMQ job schedulers on the maintenance queue
 * fire the collection and the upload purge; without it, the registry process follows
 * the same cron patterns itself.
 */
import { RedisServer, redisServerAvailable } from '../../libs/notifications/src/testing/redis-server.js';
import { RegistryClient, errorCode } from '../support/http.js';
import { type GcRegistry, gcSuiteAvailable, startGcRegistry } from './support.js';

const postgres = await gcSuiteAvailable('gc/schedule');
const redisAvailable = postgres && (await redisServerAvailable());
if (postgres && !redisAvailable) console.warn('[gc/schedule] the BullMQ part is skipped: it needs /usr/bin/redis-server');

const scheduledRuns = (registry: GcRegistry) =>
  registry.sql(`SELECT status FROM gc_runs WHERE trigger = 'schedule' ORDER BY id`);

/** A session left alone long enough to be stale, and whether it still exists. */
async function staleSession(registry: GcRegistry): Promise<() => Promise<boolean>> {
  const c = new RegistryClient(registry.url, registry.admin);
  const location = await c.startUpload('schedule/app');
  expect((await c.patch(location, { body: Buffer.from('abandoned') })).status).toBe(202);
  return async () => {
    const res = await c.get(location);
    if (res.status === 404) expect(errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
    return res.status !== 404;
  };
}

describe.skipIf(!postgres)('scheduled maintenance without Redis: the registry process runs it', () => {
  let registry: GcRegistry;
  beforeAll(async () => {
    registry = await startGcRegistry({ GC_SCHEDULE: '* * * * * *', UPLOAD_PURGE_SCHEDULE: '*/2 * * * * *', UPLOAD_MAX_AGE_SECONDS: '1' });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('runs the collection and the purge on their patterns', async () => {
    const exists = await staleSession(registry);
    await vi.waitFor(async () => expect((await scheduledRuns(registry)).length).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 250 });
    expect((await scheduledRuns(registry)).every((r) => r.status === 'succeeded' || r.status === 'running')).toBe(true);
    await vi.waitFor(async () => expect(await exists()).toBe(false), { timeout: 10_000, interval: 250 });
  });
});

describe.skipIf(!redisAvailable)('scheduled maintenance with Redis: BullMQ job schedulers', () => {
  let redis: RedisServer;
  let registry: GcRegistry;
  beforeAll(async () => {
    redis = await RedisServer.start();
    registry = await startGcRegistry({
      REDIS_URL: redis.url,
      GC_SCHEDULE: '*/2 * * * * *',
      UPLOAD_PURGE_SCHEDULE: '*/2 * * * * *',
      UPLOAD_MAX_AGE_SECONDS: '1',
    });
  });
  afterAll(async () => {
    await registry?.close();
    await redis?.stop();
  });

  it('runs the collection and the purge from the queue', async () => {
    const exists = await staleSession(registry);
    await vi.waitFor(async () => expect((await scheduledRuns(registry)).some((r) => r.status === 'succeeded')).toBe(true), { timeout: 15_000, interval: 250 });
    await vi.waitFor(async () => expect(await exists()).toBe(false), { timeout: 15_000, interval: 250 });
  });

  it('closes promptly once Redis has gone', async () => {
    await redis.kill();
    const started = Date.now();
    await registry.close();
    registry = undefined as unknown as GcRegistry;
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
