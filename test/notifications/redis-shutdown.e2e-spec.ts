/**
 * Closing a BullMQ worker and its client never waits for a Redis that is gone or hangs
 * (a SIGSTOPped redis-server keeps its connections open and answers nothing): BullMQ's
 * own graceful close would wait for ever, and with it the registry's shutdown.
 */
import { Queue, Worker } from 'bullmq';
import { Logger } from '@nestjs/common';
import { closeRedisClient, closeWorker, createRedisClient } from '@berth/notifications';
import { RedisServer, redisServerAvailable } from '../../libs/notifications/src/testing/redis-server.js';

const available = await redisServerAvailable();

describe.skipIf(!available)('closing BullMQ workers and clients without Redis', () => {
  let redis: RedisServer;
  beforeEach(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    redis.thaw();
    await redis.stop();
  });

  type Client = ReturnType<typeof createRedisClient>;
  /** The queue's client: BullMQ leaves a client it was given open, so each test closes it. */
  let queueClient: Client;
  afterEach(async () => {
    await closeRedisClient(queueClient);
  });

  async function runningWorker(): Promise<{ worker: Worker; client: Client; queue: Queue }> {
    const logger = new Logger('test');
    const client = createRedisClient(redis.url, 'test-worker', logger, { maxRetriesPerRequest: null });
    queueClient = createRedisClient(redis.url, 'test-queue', logger);
    const queue = new Queue('shutdown-test', { connection: queueClient });
    const worker = new Worker('shutdown-test', async () => 'done', { connection: client });
    worker.on('error', () => undefined);
    queue.on('error', () => undefined);
    await worker.waitUntilReady();
    const job = await queue.add('one', {});
    await vi.waitFor(async () => expect(await job.getState()).toBe('completed'), { timeout: 10_000 });
    return { worker, client, queue };
  }

  async function timed(work: Promise<unknown>): Promise<number> {
    const started = Date.now();
    await work;
    return Date.now() - started;
  }

  it('gives up the graceful close after its grace period when Redis hangs', async () => {
    const { worker, client, queue } = await runningWorker();
    await queue.close();
    redis.freeze();
    expect(client.status).toBe('ready');
    const elapsed = await timed(closeWorker(worker, client, 1000).then(() => closeRedisClient(client)));
    expect(elapsed).toBeLessThan(6000);
  });

  it('closes at once when Redis has just been killed', async () => {
    const { worker, client, queue } = await runningWorker();
    await queue.close();
    await redis.kill();
    const elapsed = await timed(closeWorker(worker, client, 30_000).then(() => closeRedisClient(client)));
    expect(elapsed).toBeLessThan(5000);
  });

  it('closes gracefully, and quickly, while Redis answers', async () => {
    const { worker, client, queue } = await runningWorker();
    await queue.close();
    const elapsed = await timed(closeWorker(worker, client, 30_000).then(() => closeRedisClient(client)));
    expect(elapsed).toBeLessThan(5000);
    expect(await worker.isRunning()).toBe(false);
    await vi.waitFor(() => expect(client.status).toBe('end'));
  });
});
