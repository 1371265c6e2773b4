/**
 * The notifications runtime end to end, with real Postgres (a fresh database per
 * test, migrated by the app) and a private redis-server (killed and restarted where
 * a test needs an outage), delivering to a local HTTP subscriber.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { DeliveryQueue } from './delivery-queue.js';
import { verifyWebhookSignature } from './delivery/webhook-signature.js';
import { EventOutbox } from './event-outbox.js';
import { HistoryPruner } from './history/history.pruner.js';
import { NotificationsStatus } from './notifications-status.js';
import type { NotificationsOptions } from './notifications-options.js';
import type { EventDraft, RegistryEvent } from './registry-event.js';
import { SecretBox } from './secret-box.js';
import { TargetPolicy } from './target-policy.js';
import { RecordingLogger, type WebhookSpec, eventContext, insertWebhook, startNotificationsApp } from './testing/notifications-app.js';
import { RedisServer, redisServerAvailable } from './testing/redis-server.js';
import { TestDatabase, postgresAvailable } from '../../../test/support/database.js';
import { WebhookSubscriber } from './testing/webhook-subscriber.js';

const available = (await postgresAvailable()) && (await redisServerAvailable());
if (!available) console.warn('notifications tests skipped: they need Postgres (TEST_DATABASE_URL) and /usr/bin/redis-server');

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const BLOB = 'application/octet-stream';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Fast retries and sweeps, so that a test waits milliseconds rather than minutes. */
const FAST: NotificationsOptions = { retryBaseDelayMs: 40, sweepIntervalMs: 200, sweepGraceMs: 300, relayIntervalMs: 200 };

function pushManifest(repository: string, tag = 'v1'): EventDraft {
  return { action: 'push', target: { mediaType: MANIFEST, size: 512, length: 512, digest: `sha256:${'a'.repeat(64)}`, repository, tag } };
}

function pushBlob(repository: string): EventDraft {
  return { action: 'push', target: { mediaType: BLOB, size: 10, length: 10, digest: `sha256:${'b'.repeat(64)}`, repository } };
}

interface Deliveries {
  id: string;
  webhook_id: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
}

/** One test's database, data directory, subscriber and the apps started on them. */
class Fixture {
  readonly apps = new Set<INestApplicationContext>();
  readonly logger = new RecordingLogger();

  private constructor(
    readonly database: TestDatabase,
    readonly dataDir: string,
    readonly subscriber: WebhookSubscriber,
    private readonly redis: RedisServer,
  ) {}

  static async create(redis: RedisServer): Promise<Fixture> {
    return new Fixture(await TestDatabase.create('berth_notify'), await mkdtemp(join(tmpdir(), 'berth-notify-')), await WebhookSubscriber.start(), redis);
  }

  async start(settings: { redis?: boolean; allowPrivateTargets?: boolean; options?: NotificationsOptions } = {}): Promise<INestApplicationContext> {
    const app = await startNotificationsApp(
      {
        database: this.database,
        dataDir: this.dataDir,
        redisUrl: settings.redis === false ? undefined : this.redis.url,
        allowPrivateTargets: settings.allowPrivateTargets,
        options: { ...FAST, ...settings.options },
      },
      this.logger,
    );
    this.apps.add(app);
    return app;
  }

  async close(app: INestApplicationContext): Promise<void> {
    this.apps.delete(app);
    await app.close();
  }

  webhook(spec: Partial<WebhookSpec> = {}): Promise<string> {
    return insertWebhook(this.database, { url: this.subscriber.url, ...spec });
  }

  /** Records events as a service does: in a transaction of its own. */
  async record(app: INestApplicationContext, drafts: EventDraft[], actor = 'alice'): Promise<void> {
    await app.get(DataSource).transaction((manager) => app.get(EventOutbox).record(manager, eventContext(actor), drafts));
  }

  deliveries(): Promise<Deliveries[]> {
    return this.database.query<Deliveries>(
      `SELECT id, webhook_id, status, attempts, last_status_code, last_error FROM webhook_deliveries ORDER BY created_at, id`,
    );
  }

  async dispose(): Promise<void> {
    for (const app of this.apps) await app.close();
    await this.subscriber.close();
    await this.database.drop();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

describe.skipIf(!available)('notifications runtime (Postgres, Redis, HTTP subscriber)', () => {
  let redis: RedisServer;
  let fixture: Fixture;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    fixture = await Fixture.create(redis);
  });
  afterEach(async () => {
    await fixture.dispose();
    // A test that failed while Redis was down must not fail the ones after it.
    if (!redis.running) await redis.resume();
    // Jobs left by one test must not reach the next one's worker.
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await client.flushall();
    await client.quit();
  });

  it('is off without REDIS_URL: said once, nothing recorded, nothing queued', async () => {
    const app = await fixture.start({ redis: false });
    expect(fixture.logger.lines.filter((l) => l.includes('webhook notifications'))).toEqual(['webhook notifications are off: set REDIS_URL to enable them']);
    const outbox = app.get(EventOutbox);
    expect(outbox.enabled).toBe(false);
    await fixture.webhook();
    await fixture.record(app, [pushManifest('team/app')]);
    outbox.recordPull(eventContext(), { action: 'pull', target: { repository: 'team/app' } });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await fixture.database.query('SELECT * FROM event_outbox')).toEqual([]);
    const queue = app.get(DeliveryQueue);
    expect(queue.enabled).toBe(false);
    await expect(queue.enqueue(['00000000-0000-0000-0000-000000000000'])).rejects.toThrow(/REDIS_URL/);
    expect(await app.get(NotificationsStatus).read()).toEqual({ enabled: false, workers: false, reason: expect.stringContaining('REDIS_URL') });
    // Subscriptions can still be saved: their secrets need the box, their URLs the policy.
    expect(app.get(SecretBox).decrypt(app.get(SecretBox).encrypt('x'))).toBe('x');
    expect(() => app.get(TargetPolicy).assertAllowedUrl('ftp://x')).toThrow();
  });

  it('delivers a recorded push, signed, with its headers, within moments of the commit', async () => {
    // A relay that polls once a minute: only the after-commit wake-up can be this quick.
    const app = await fixture.start({ options: { relayIntervalMs: 60_000 } });
    expect(fixture.logger.lines).toContain(`webhook notifications on (redis redis://127.0.0.1:${redis.port}, workers in this process: yes)`);
    const webhookId = await fixture.webhook({ secret: 's3cret-signing-key', headers: { 'X-Team': 'blue', 'X-Berth-Event': 'forged' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await fixture.record(app, [pushManifest('team/app', 'v1')], 'alice');
    await vi.waitFor(() => expect(fixture.subscriber.received).toHaveLength(1), { timeout: 5000 });
    expect(Date.now() - started).toBeLessThan(3000);

    const [request] = fixture.subscriber.received;
    const [delivery] = await fixture.deliveries();
    const [outboxRow] = await fixture.database.query<{ event_id: string; relayed_at: Date | null }>('SELECT event_id, relayed_at FROM event_outbox');
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/hook');
    expect(request.headers['content-type']).toBe('application/vnd.docker.distribution.events.v1+json');
    expect(request.headers['user-agent']).toMatch(/^Berth-Webhooks\/\d+\.\d+\.\d+/);
    expect(request.headers['x-berth-delivery']).toBe(delivery.id);
    expect(request.headers['x-berth-event']).toBe(outboxRow.event_id);
    expect(request.headers['x-team']).toBe('blue');
    expect(verifyWebhookSignature('s3cret-signing-key', request.body, request.headers['x-berth-signature'] as string)).toBe(true);
    expect(verifyWebhookSignature('another-key', request.body, request.headers['x-berth-signature'] as string)).toBe(false);

    const body = JSON.parse(request.body.toString('utf8'));
    expect(body).toEqual({
      events: [
        {
          id: outboxRow.event_id,
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          action: 'push',
          target: pushManifest('team/app', 'v1').target,
          request: { id: expect.stringMatching(UUID), addr: '10.1.2.3:5555', host: 'registry.test:5000', method: 'PUT', useragent: 'docker/27.0' },
          actor: { name: 'alice' },
          source: { addr: expect.stringMatching(/:5000$/), instanceID: expect.stringMatching(UUID) },
        },
      ],
    });
    expect(outboxRow.relayed_at).not.toBeNull();
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ webhook_id: webhookId, status: 'succeeded', attempts: 1, last_status_code: 200 }));
    const attempts = await fixture.database.query('SELECT attempt, status_code, error, next_retry_at FROM webhook_attempts');
    expect(attempts).toEqual([{ attempt: 1, status_code: 200, error: null, next_retry_at: null }]);
  });

  it('retries with backoff: a subscriber failing twice gets the event on the third attempt', async () => {
    const app = await fixture.start();
    await fixture.webhook();
    fixture.subscriber.answer(500, 503);
    await fixture.record(app, [pushManifest('team/app')]);
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'succeeded', attempts: 3, last_status_code: 200 }), {
      timeout: 10_000,
    });
    const attempts = await fixture.database.query<{ attempt: number; status_code: number; error: string | null; at: Date; next_retry_at: Date | null }>(
      'SELECT attempt, status_code, error, at, next_retry_at FROM webhook_attempts ORDER BY attempt',
    );
    expect(attempts.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 503, 'HTTP 503'],
      [3, 200, null],
    ]);
    // The recorded retry times are the backoff's: base·2^(n-1), jittered down by up to half.
    for (const [i, ceiling] of [
      [0, 40],
      [1, 80],
    ]) {
      const wait = (attempts[i].next_retry_at as Date).getTime() - attempts[i].at.getTime();
      expect(wait).toBeGreaterThanOrEqual(ceiling / 2 - 5);
      expect(wait).toBeLessThanOrEqual(ceiling + 50);
    }
    expect(attempts[2].next_retry_at).toBeNull();
    const requests = fixture.subscriber.received;
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((r) => r.headers['x-berth-delivery'])).size).toBe(1);
    expect(new Set(requests.map((r) => r.body.toString())).size).toBe(1);
  });

  it('marks a delivery dead after its last attempt, and a redelivery sends it again', async () => {
    const app = await fixture.start();
    await fixture.webhook({ maxAttempts: 2 });
    fixture.subscriber.defaultStatus = 500;
    await fixture.record(app, [pushManifest('team/app')]);
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'dead', attempts: 2, last_error: 'HTTP 500' }), {
      timeout: 10_000,
    });
    const [dead] = await fixture.database.query<{ next_attempt_at: Date | null }>('SELECT next_attempt_at FROM webhook_deliveries');
    expect(dead.next_attempt_at).toBeNull();
    expect(await app.get(NotificationsStatus).read()).toMatchObject({ enabled: true, workers: true, redis: 'reachable', deliveries: { dead: 1 } });
    expect(fixture.subscriber.received).toHaveLength(2);

    fixture.subscriber.defaultStatus = 200;
    const [{ id }] = await fixture.deliveries();
    await app.get(DeliveryQueue).enqueue([id], { redelivery: true });
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'succeeded', attempts: 3, last_status_code: 200 }), {
      timeout: 10_000,
    });
    expect(fixture.subscriber.received).toHaveLength(3);
    const attempts = await fixture.database.query<{ attempt: number }>('SELECT attempt FROM webhook_attempts ORDER BY attempt');
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);

    // A second redelivery of the (now succeeded) delivery gets a fresh job and budget too.
    fixture.subscriber.answer(500);
    await app.get(DeliveryQueue).enqueue([id], { redelivery: true });
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'succeeded', attempts: 5 }), { timeout: 10_000 });
  });

  it('loses nothing while Redis is down: events recorded meanwhile are delivered once it is back', async () => {
    const app = await fixture.start();
    await fixture.webhook();
    await fixture.record(app, [pushManifest('team/before')]);
    await vi.waitFor(() => expect(fixture.subscriber.received).toHaveLength(1), { timeout: 5000 });

    await redis.kill();
    // Pushes keep working: the outbox is in Postgres.
    await fixture.record(app, [pushManifest('team/during-1')]);
    await fixture.record(app, [pushManifest('team/during-2'), pushBlob('team/during-2')]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(fixture.subscriber.received).toHaveLength(1);
    expect(await fixture.database.query('SELECT id FROM event_outbox WHERE relayed_at IS NULL')).toHaveLength(3);
    expect(await app.get(NotificationsStatus).read()).toMatchObject({ enabled: true, redis: 'unreachable', outboxBacklog: 3 });

    await redis.resume();
    await vi.waitFor(() => expect(fixture.subscriber.received).toHaveLength(4), { timeout: 15_000 });
    expect(
      fixture.subscriber
        .events()
        .map((e) => e.target.repository)
        .sort(),
    ).toEqual(['team/before', 'team/during-1', 'team/during-2', 'team/during-2']);
    await vi.waitFor(async () => expect((await fixture.deliveries()).every((d) => d.status === 'succeeded')).toBe(true));
  });

  it('loses nothing when the process dies before relaying: a new process on the same database delivers', async () => {
    // A process that records events but cannot relay them (its Redis is gone), then dies.
    await redis.kill();
    const first = await fixture.start();
    await fixture.webhook();
    await fixture.record(first, [pushManifest('team/one')]);
    await fixture.record(first, [pushManifest('team/two')]);
    await fixture.close(first);
    expect(await fixture.database.query('SELECT id FROM event_outbox WHERE relayed_at IS NULL')).toHaveLength(2);

    await redis.resume();
    await fixture.start();
    await vi.waitFor(() => expect(fixture.subscriber.received).toHaveLength(2), { timeout: 10_000 });
    expect(
      fixture.subscriber
        .events()
        .map((e) => e.target.repository)
        .sort(),
    ).toEqual(['team/one', 'team/two']);
  });

  it('loses nothing when a delivery was committed but its job never made it (or Redis lost it): the sweeper queues it', async () => {
    const app = await fixture.start();
    const webhookId = await fixture.webhook();
    const event = { id: '6b1f3c1e-58b6-4c8a-9e43-0c2f0d6c1a11', timestamp: new Date().toISOString(), action: 'push', target: { repository: 'team/orphan' } };
    await fixture.database.query(
      `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, next_attempt_at)
       VALUES ('0d8e2f5a-3b9c-4e1d-8f7a-6c5b4a392817', $1, $2, 'push', $3, 'pending', now() - interval '1 minute')`,
      [webhookId, event.id, JSON.stringify(event)],
    );
    await vi.waitFor(() => expect(fixture.subscriber.received).toHaveLength(1), { timeout: 5000 });
    expect(fixture.subscriber.received[0].headers['x-berth-delivery']).toBe('0d8e2f5a-3b9c-4e1d-8f7a-6c5b4a392817');
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'succeeded', attempts: 1 }));
    // A delivery whose job is alive is left alone: one request only.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(fixture.subscriber.received).toHaveLength(1);
    await fixture.close(app);
  });

  it('routes events by action, ignored media type, repository pattern and namespace', async () => {
    // No workers here: the deliveries the relay writes are what this test checks.
    const app = await fixture.start({ options: { workers: false } });
    const [{ id: teamId }] = await fixture.database.query<{ id: string }>(`INSERT INTO namespaces (name, kind) VALUES ('team', 'organization') RETURNING id`);
    const [{ id: otherId }] = await fixture.database.query<{ id: string }>(`INSERT INTO namespaces (name, kind) VALUES ('other', 'organization') RETURNING id`);
    const hooks = {
      everything: await fixture.webhook(),
      pushes: await fixture.webhook({ actions: ['push'] }),
      noBlobs: await fixture.webhook({ ignoredMediaTypes: [BLOB] }),
      webRepos: await fixture.webhook({ repositoryPattern: 'team/**/web-*' }),
      team: await fixture.webhook({ namespaceId: teamId }),
      otherDeletes: await fixture.webhook({ namespaceId: otherId, actions: ['delete'] }),
      disabled: await fixture.webhook({ enabled: false }),
    };
    await fixture.record(app, [pushManifest('team/web-api')]);
    await fixture.record(app, [pushBlob('team/app')]);
    await fixture.record(app, [{ action: 'delete', target: { repository: 'other/x', digest: `sha256:${'c'.repeat(64)}` } }]);
    await fixture.record(app, [{ action: 'mount', target: { mediaType: BLOB, repository: 'team/sub/web-ui', fromRepository: 'other/x' } }]);
    await vi.waitFor(async () => expect(await fixture.database.query('SELECT id FROM event_outbox WHERE relayed_at IS NULL')).toEqual([]));

    const rows = await fixture.database.query<{ webhook_id: string; repository: string; action: string; status: string }>(
      `SELECT webhook_id, payload->'target'->>'repository' AS repository, action, status FROM webhook_deliveries`,
    );
    const routed = (hook: string) =>
      rows
        .filter((r) => r.webhook_id === hook)
        .map((r) => `${r.action} ${r.repository}`)
        .sort();
    expect(routed(hooks.everything)).toEqual(['delete other/x', 'mount team/sub/web-ui', 'push team/app', 'push team/web-api']);
    expect(routed(hooks.pushes)).toEqual(['push team/app', 'push team/web-api']);
    expect(routed(hooks.noBlobs)).toEqual(['delete other/x', 'push team/web-api']);
    expect(routed(hooks.webRepos)).toEqual(['mount team/sub/web-ui', 'push team/web-api']);
    expect(routed(hooks.team)).toEqual(['mount team/sub/web-ui', 'push team/app', 'push team/web-api']);
    expect(routed(hooks.otherDeletes)).toEqual(['delete other/x']);
    expect(routed(hooks.disabled)).toEqual([]);
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['pending']));
  });

  it('writes pull events off the request path, and only while a subscription takes pulls', async () => {
    const app = await fixture.start();
    const outbox = app.get(EventOutbox);
    const pull = (repository: string) => outbox.recordPull(eventContext('bob'), { action: 'pull', target: { mediaType: MANIFEST, repository } });
    await fixture.webhook({ actions: ['push'] });
    pull('team/ignored');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await fixture.database.query('SELECT id FROM event_outbox')).toEqual([]);

    await fixture.webhook({ actions: ['pull'] });
    const started = performance.now();
    for (const repository of ['team/a', 'team/b', 'team/c']) pull(repository);
    expect(performance.now() - started).toBeLessThan(20);
    await vi.waitFor(() => expect(fixture.subscriber.events()).toHaveLength(3), { timeout: 5000 });
    expect(fixture.subscriber.events().map((e) => [e.action, e.target.repository])).toEqual(
      expect.arrayContaining([
        ['pull', 'team/a'],
        ['pull', 'team/b'],
        ['pull', 'team/c'],
      ]),
    );
    // Written in one flush, as one delivery (one POST carrying the three), without the outbox.
    expect(fixture.subscriber.received).toHaveLength(1);
    expect(await fixture.database.query('SELECT id FROM event_outbox')).toEqual([]);
    const [delivery] = await fixture.database.query<{ event_id: string; action: string }>('SELECT event_id, action FROM webhook_deliveries');
    expect(delivery).toEqual({ event_id: fixture.subscriber.events()[0].id, action: 'pull' });
    expect(fixture.subscriber.received[0].headers['x-berth-event']).toBe(delivery.event_id);
  });

  it('sends pull events to a subscription in deliveries of at most 500, without the outbox, and every other event alone', async () => {
    const app = await fixture.start();
    const outbox = app.get(EventOutbox);
    const pullsOnly = await fixture.webhook({ actions: ['pull'] });
    const everything = await fixture.webhook();
    const draft = (action: 'push' | 'delete' | 'pull', i: number): EventDraft => ({
      action,
      target: { mediaType: MANIFEST, repository: `team/app${i}`, digest: `sha256:${'a'.repeat(64)}` },
    });
    // 1200 pulls: the buffer flushes at 1000 (two deliveries of 500 per subscription), then the last 200.
    await fixture.record(app, [draft('push', 0)]);
    for (let i = 0; i < 600; i++) outbox.recordPull(eventContext(), draft('pull', i));
    await fixture.record(app, [draft('delete', 1)]);
    for (let i = 600; i < 1200; i++) outbox.recordPull(eventContext(), draft('pull', i));
    await fixture.record(app, [draft('push', 2)]);
    const outboxRows = await fixture.database.query<{ action: string }>(`SELECT payload->>'action' AS action FROM event_outbox`);
    expect(outboxRows.map((r) => r.action).sort()).toEqual(['delete', 'push', 'push']);
    const repositories = (action: string) =>
      action === 'pull' ? Array.from({ length: 1200 }, (_, i) => `team/app${i}`) : action === 'push' ? ['team/app0', 'team/app2'] : ['team/app1'];
    const events = ['push', 'delete', 'pull'].flatMap((action) => repositories(action).map((repository) => ({ action, repository })));
    const key = (e: { action: string; target?: { repository: string }; repository?: string }) => `${e.action} ${e.target?.repository ?? e.repository}`;
    const expected = (hook: string) => (hook === everything ? events : events.filter((e) => e.action === 'pull')).map(key).sort();
    // Both subscriptions take the 1200 pulls; the second also the three others.
    await vi.waitFor(() => expect(fixture.subscriber.events()).toHaveLength(1200 + events.length), { timeout: 10_000 });
    await vi.waitFor(async () => expect((await fixture.deliveries()).every((d) => d.status === 'succeeded')).toBe(true));
    const rows = await fixture.database.query<{ id: string; webhook_id: string; event_id: string; action: string }>(
      `SELECT id, webhook_id, event_id, action FROM webhook_deliveries`,
    );
    for (const hook of [pullsOnly, everything]) {
      const requests = fixture.subscriber.received.filter((r) => rows.some((d) => d.webhook_id === hook && d.id === r.headers['x-berth-delivery']));
      const bodies = requests.map((r) => JSON.parse(r.body.toString('utf8')).events as RegistryEvent[]);
      // Every event exactly once.
      expect(bodies.flat().map(key).sort()).toEqual(expected(hook));
      const sizes = (action: string) =>
        bodies
          .filter((b) => b[0].action === action)
          .map((b) => b.length)
          .sort((a, b) => a - b);
      expect(sizes('pull')).toEqual([200, 500, 500]);
      if (hook === everything) expect([sizes('push'), sizes('delete')]).toEqual([[1, 1], [1]]);
      for (const [i, body] of bodies.entries()) {
        expect(new Set(body.map((e) => e.action)).size).toBe(1);
        // Pulls in the order they were served.
        const order = body.map((e) => Number(e.target.repository.slice('team/app'.length)));
        expect(order).toEqual([...order].sort((a, b) => a - b));
        // X-Berth-Event and the row's event_id are the first event's; the action is the events' action.
        const row = rows.find((d) => d.id === requests[i].headers['x-berth-delivery'])!;
        expect(requests[i].headers['x-berth-event']).toBe(body[0].id);
        expect(row).toMatchObject({ event_id: body[0].id, action: body[0].action });
      }
    }
    expect(rows).toHaveLength(3 + 3 + 3);
  });

  it('records nothing for a change that rolls back', async () => {
    const app = await fixture.start();
    await fixture.webhook();
    await expect(
      app.get(DataSource).transaction(async (manager) => {
        await app.get(EventOutbox).record(manager, eventContext(), [pushManifest('team/app')]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await fixture.database.query('SELECT id FROM event_outbox')).toEqual([]);
    expect(fixture.subscriber.received).toEqual([]);
  });

  it('refuses a loopback target at delivery time unless private targets are allowed: dead at once', async () => {
    const app = await fixture.start({ allowPrivateTargets: false });
    // Inserted directly: the webhooks API would have refused this URL already.
    await fixture.webhook();
    await fixture.record(app, [pushManifest('team/app')]);
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'dead', attempts: 1, last_status_code: null }), {
      timeout: 5000,
    });
    expect((await fixture.deliveries())[0].last_error).toMatch(/127\.0\.0\.1 is a loopback address.*WEBHOOK_ALLOW_PRIVATE_TARGETS=true/);
    expect(fixture.subscriber.received).toEqual([]);
  });

  it('marks the deliveries of a disabled webhook dead without sending them, except a test ping', async () => {
    const app = await fixture.start();
    const webhookId = await fixture.webhook({ enabled: false });
    const insert = async (id: string, action: string) => {
      const event = { id: crypto.randomUUID(), timestamp: new Date().toISOString(), action, target: { repository: action === 'ping' ? '' : 'team/app' } };
      await fixture.database.query(
        `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 'pending', now())`,
        [id, webhookId, event.id, action, JSON.stringify(event)],
      );
    };
    await insert('11111111-1111-4111-8111-111111111111', 'push');
    await insert('22222222-2222-4222-8222-222222222222', 'ping');
    await app.get(DeliveryQueue).enqueue(['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222']);
    await vi.waitFor(
      async () =>
        expect(await fixture.deliveries()).toEqual([
          expect.objectContaining({ id: '11111111-1111-4111-8111-111111111111', status: 'dead', attempts: 0, last_error: 'the webhook is disabled' }),
          expect.objectContaining({ id: '22222222-2222-4222-8222-222222222222', status: 'succeeded', attempts: 1 }),
        ]),
      { timeout: 5000 },
    );
    expect(fixture.subscriber.events().map((e) => e.action)).toEqual(['ping']);
  });

  it('times out a slow subscriber after the webhook timeout and records the attempt', async () => {
    const app = await fixture.start();
    fixture.subscriber.delayMs = 1500;
    await fixture.webhook({ timeoutMs: 300, maxAttempts: 1 });
    await fixture.record(app, [pushManifest('team/app')]);
    await vi.waitFor(async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'dead', attempts: 1, last_error: 'timeout after 300 ms' }), {
      timeout: 5000,
    });
    const [attempt] = await fixture.database.query<{ duration_ms: number }>('SELECT duration_ms FROM webhook_attempts');
    expect(attempt.duration_ms).toBeGreaterThanOrEqual(290);
    expect(attempt.duration_ms).toBeLessThan(2000);
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    const app = await fixture.start();
    await fixture.webhook({ maxAttempts: 1 });
    fixture.subscriber.answer(302);
    await fixture.record(app, [pushManifest('team/app')]);
    await vi.waitFor(
      async () => expect((await fixture.deliveries())[0]).toMatchObject({ status: 'dead', last_status_code: 302, last_error: 'HTTP 302: redirects are not followed' }),
      { timeout: 5000 },
    );
    expect(fixture.subscriber.received).toHaveLength(1);
  });

  it('prunes finished deliveries, attempts and relayed outbox rows older than the history window', async () => {
    const app = await fixture.start({ options: { workers: true } });
    const webhookId = await fixture.webhook();
    const insertDelivery = async (status: string, daysAgo: number) => {
      const event = { id: crypto.randomUUID(), action: 'push', target: { repository: 'team/app' } };
      const [{ id }] = await fixture.database.query<{ id: string }>(
        `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status, created_at, updated_at)
         VALUES (gen_random_uuid(), $1, $2, 'push', $3, $4, now() - $5 * interval '1 day', now() - $5 * interval '1 day') RETURNING id`,
        [webhookId, event.id, JSON.stringify(event), status, daysAgo],
      );
      await fixture.database.query(`INSERT INTO webhook_attempts (delivery_id, attempt, at, duration_ms) VALUES ($1, 1, now() - $2 * interval '1 day', 5)`, [
        id,
        daysAgo,
      ]);
      return id;
    };
    const oldSucceeded = await insertDelivery('succeeded', 40);
    const oldDead = await insertDelivery('dead', 31);
    const oldFailed = await insertDelivery('failed', 40);
    const recent = await insertDelivery('succeeded', 2);
    await fixture.database.query(
      `INSERT INTO event_outbox (event_id, payload, created_at, relayed_at) VALUES
         (gen_random_uuid(), '{}', now() - interval '40 days', now() - interval '40 days'),
         (gen_random_uuid(), '{}', now() - interval '3 days', now() - interval '3 days')`,
    );

    expect(await app.get(HistoryPruner).prune()).toEqual({ attempts: 3, deliveries: 2, outbox: 1 });
    const kept = (await fixture.deliveries()).map((d) => d.id).sort();
    expect(kept).toEqual([oldFailed, recent].sort());
    expect(kept).not.toContain(oldSucceeded);
    expect(kept).not.toContain(oldDead);
    expect(await fixture.database.query('SELECT delivery_id FROM webhook_attempts')).toEqual([{ delivery_id: recent }]);
    expect(await fixture.database.query('SELECT id FROM event_outbox')).toHaveLength(1);
  });

  it('leaves no timers or connections behind when the application closes', async () => {
    const count = () =>
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap' || r === 'TCPWRAP' || r === 'TCPConnectWrap').length;
    await fixture.start().then((app) => fixture.close(app));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = count();
    for (let i = 0; i < 3; i++) {
      const app = await fixture.start();
      await fixture.webhook();
      await fixture.record(app, [pushManifest(`team/app${i}`)]);
      await vi.waitFor(() => expect(fixture.subscriber.received).toHaveLength(1), { timeout: 5000 });
      await fixture.close(app);
      fixture.subscriber.received.length = 0;
      fixture.subscriber.dropConnections();
      await fixture.database.query('DELETE FROM webhooks');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(count()).toBeLessThanOrEqual(before);
  });
});
