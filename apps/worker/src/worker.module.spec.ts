/**
 * The worker app: its start-up refusals (as a process), and the split deployment it
 * exists for: a registry process that records and relays but runs no workers, and a
 * worker process (this module) that delivers.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { EventOutbox, verifyWebhookSignature } from '@berth/notifications';
import { RecordingLogger, TEST_SECRETS_KEY, eventContext, insertWebhook, startNotificationsApp } from '../../../libs/notifications/src/testing/notifications-app.js';
import { RedisServer, redisServerAvailable } from '../../../libs/notifications/src/testing/redis-server.js';
import { TestDatabase, postgresAvailable } from '../../../test/support/database.js';
import { WebhookSubscriber } from '../../../libs/notifications/src/testing/webhook-subscriber.js';
import { WorkerModule } from './worker.module.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Runs main.ts (through tsx) with exactly `env`, to its exit. */
function runWorker(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('worker process start-up', () => {
  it('exits 2 with a clear message without REDIS_URL', async () => {
    const { code, stderr } = await runWorker({ DATABASE_URL: 'postgres://u@127.0.0.1:1/x' });
    expect(code).toBe(2);
    expect(stderr).toContain('berth-worker needs REDIS_URL');
  });

  it('exits 2 without DATABASE_URL: the embedded database is the registry process’s', async () => {
    const { code, stderr } = await runWorker({ REDIS_URL: 'redis://127.0.0.1:1' });
    expect(code).toBe(2);
    expect(stderr).toContain('berth-worker needs DATABASE_URL');
  });

  it('exits 2 on invalid configuration', async () => {
    const { code, stderr } = await runWorker({ REDIS_URL: 'http://nope' });
    expect(code).toBe(2);
    expect(stderr).toContain('REDIS_URL: must be a redis:// URL');
  });
});

const available = (await postgresAvailable()) && (await redisServerAvailable());
if (!available) console.warn('worker delivery test skipped: it needs Postgres (TEST_DATABASE_URL) and /usr/bin/redis-server');

describe.skipIf(!available)('worker process delivering for a registry without workers', () => {
  let redis: RedisServer;
  let database: TestDatabase;
  let dataDir: string;
  let subscriber: WebhookSubscriber;

  beforeAll(async () => {
    redis = await RedisServer.start();
    database = await TestDatabase.create('berth_notify');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-worker-'));
    subscriber = await WebhookSubscriber.start();
  });
  afterAll(async () => {
    await subscriber?.close();
    await database?.drop();
    await redis?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers what the registry process recorded', async () => {
    const registryLogger = new RecordingLogger();
    const registry = await startNotificationsApp({ database, dataDir, redisUrl: redis.url, options: { workers: false } }, registryLogger);
    expect(registryLogger.lines).toContain(`webhook notifications on (redis ${redis.url}, workers in this process: no)`);
    const config = new BerthConfig({
      DATABASE_URL: database.url,
      DATA_DIR: dataDir,
      REDIS_URL: redis.url,
      RUN_WORKERS: 'false',
      SECRETS_KEY: TEST_SECRETS_KEY,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    });
    const workerLogger = new RecordingLogger();
    const worker = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: workerLogger, abortOnError: false });
    await worker.init();
    try {
      // RUN_WORKERS=false is the registry's setting; the worker app runs workers regardless.
      expect(workerLogger.lines).toContain(`webhook notifications on (redis ${redis.url}, workers in this process: yes)`);
      await insertWebhook(database, { url: subscriber.url, secret: 'worker-secret' });
      await registry.get(DataSource).transaction((manager) =>
        registry.get(EventOutbox).record(manager, eventContext(), [{ action: 'delete', target: { repository: 'team/app', tag: 'old' } }]),
      );
      await vi.waitFor(() => expect(subscriber.received).toHaveLength(1), { timeout: 10_000 });
      const [request] = subscriber.received;
      expect(verifyWebhookSignature('worker-secret', request.body, request.headers['x-berth-signature'] as string)).toBe(true);
      expect(JSON.parse(request.body.toString()).events[0]).toMatchObject({ action: 'delete', target: { repository: 'team/app', tag: 'old' } });
    } finally {
      await worker.close();
      await registry.close();
    }
  });
});
