/**
 * Webhook notifications end to end: the BUILT registry as a child process, a private
 * redis-server, and a real HTTP subscriber on 127.0.0.1. Covers the "done
 * means": retries, a Redis outage, a registry killed with events pending, dead letters
 * redelivered through the API, signatures, filters, and what events carry.
 *
 * Needs Postgres (TEST_DATABASE_URL) and /usr/bin/redis-server (REDIS_SERVER_BIN);
 * skipped without them, failing under CI=true. Builds dist/ first when it is stale
 * (ensureBuilt; BERTH_TEST_SKIP_BUILD=1 uses dist/ as it is).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUser, expectStatus } from '../admin/support.js';
import { RegistryClient, buildImage, sha256, type TestImage } from '../support/http.js';
import {
  DELIVERY_HEADER,
  EVENTS_CONTENT_TYPE,
  EVENT_HEADER,
  RedisServer,
  RegistryProcess,
  SIGNATURE_HEADER,
  Subscriber,
  WebhookApi,
  ensureBuilt,
  notificationsSuiteAvailable,
  signatureOf,
  stopAllChildren,
  verifySignature,
  waitFor,
  type DeliverySummary,
  type ReceivedEvent,
  type RegistryEvent,
} from './support.js';

const available = await notificationsSuiteAvailable('notifications/webhooks');

const BLOB_MEDIA_TYPE = 'application/octet-stream';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A short unique name for repositories, namespaces and hooks. */
const uid = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;

describe.skipIf(!available)('webhook notifications (built registry, real Redis, real subscriber)', () => {
  let redis: RedisServer;
  let subscriber: Subscriber;
  let registry: RegistryProcess;
  /** Global subscriptions, as the first administrator. */
  let hooks: WebhookApi;
  /** Undo actions of the current test (subscriptions to delete), run after it. */
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    redis = await RedisServer.start();
    subscriber = await Subscriber.start();
    registry = await RegistryProcess.start({ redisUrl: redis.url });
    hooks = await WebhookApi.login(registry.url, registry.admin);
  }, 600_000);

  afterEach(async () => {
    const crashed = registry?.crashed ? registry.output() : undefined;
    // Whatever this test left stopped is started again, so the next one starts clean.
    if (redis && !redis.running) await redis.start();
    if (registry && !registry.running) await registry.start();
    for (const undo of cleanup.splice(0).reverse()) await undo().catch(() => undefined);
    expect(crashed, `the registry died during the test; its last output:\n${crashed}`).toBeUndefined();
  }, 90_000);

  afterAll(async () => {
    await subscriber?.close().catch(() => undefined);
    await registry?.close().catch(() => undefined);
    await redis?.close().catch(() => undefined);
    await stopAllChildren();
  }, 60_000);

  // -------------------------------------------------------------------------
  // helpers

  /** Creates a subscription pointing at its own hook on the subscriber; deleted after the test. */
  async function subscribe(settings: Record<string, unknown> = {}, api: WebhookApi = hooks) {
    const hook = uid('hook-');
    const created = await api.create({ name: hook, url: subscriber.url(hook), ...settings });
    cleanup.push(() => api.remove(created.id));
    return { hook, api, ...created };
  }

  /** Pushes a fresh random image (config + 2 layers + OCI manifest) as the administrator, or as `auth`. */
  async function push(repository: string, tag: string, auth = registry.admin): Promise<TestImage> {
    return new RegistryClient(registry.url, auth).pushImage(repository, tag, buildImage());
  }

  /** Rejects when `work` takes longer than `ms` (a request hanging on a dead Redis must fail, not stall). */
  async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000}s`)), ms);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  function eventsFor(hook: string, repository: string, options: { ok?: boolean } = {}): ReceivedEvent[] {
    return subscriber.events(hook, options).filter((e) => e.event.target?.repository === repository);
  }

  const isManifestPush = (image: TestImage, tag?: string) => (e: ReceivedEvent) =>
    e.event.action === 'push' && e.event.target.digest === image.digest && (tag === undefined || e.event.target.tag === tag);

  /** The digests of the blobs of an image (each push of one is a blob event). */
  const blobDigests = (image: TestImage) => image.blobs.map((b) => sha256(b)).sort();

  /**
   * Waits until `hook` has answered 200 to the push events of `image` in `repository`:
   * one per blob and the manifest's. Returns them by digest.
   */
  async function waitForPushEvents(hook: string, repository: string, image: TestImage, timeoutMs = 20_000) {
    const wanted = [...blobDigests(image), image.digest];
    return waitFor(
      `the push events of ${repository} (${wanted.length}) at ${hook}`,
      () => {
        const received = new Map<string, ReceivedEvent>();
        for (const e of eventsFor(hook, repository, { ok: true })) {
          if (e.event.action === 'push' && e.event.target.digest) received.set(e.event.target.digest, e);
        }
        return wanted.every((d) => received.has(d)) && received;
      },
      { timeoutMs, detail: () => `received at ${hook}:\n${subscriber.describe(hook)}\nregistry output:\n${registry.output(30)}` },
    );
  }

  /** Deliveries of a subscription, as the API lists them. */
  async function deliveriesOf(sub: { id: string; api: WebhookApi }, status?: string): Promise<DeliverySummary[]> {
    return sub.api.deliveries(sub.id, status);
  }

  // -------------------------------------------------------------------------

  it('reports notifications on, and a ping reaches the subscriber', async () => {
    expect(expectStatus(await hooks.api.get('/system/notifications'), 200)).toMatchObject({ enabled: true });
    const sub = await subscribe();
    const answer = await sub.api.ping(sub.id);
    expect(answer.status, answer.text).toBe(202);
    const ping = await waitFor('the ping at the subscriber', () => subscriber.events(sub.hook, { ok: true }).find((e) => e.event.action === 'ping'), {
      detail: () => subscriber.describe(sub.hook),
    });
    expect(ping.event.id).toMatch(UUID);
    expect(verifySignature(ping.request, sub.secret)).toBe(true);
  });

  it('a subscriber that fails its first responses gets every event after retries', async () => {
    const sub = await subscribe();
    subscriber.failNext(sub.hook, 2);
    const repository = uid('retry/app-');
    const image = await push(repository, 'v1');
    const received = await waitForPushEvents(sub.hook, repository, image);

    const requests = subscriber.requests(sub.hook);
    const refused = requests.filter((r) => r.status === 500);
    expect(refused, subscriber.describe(sub.hook)).toHaveLength(2);
    // Each refused event came again, with the same event id and delivery id, and was taken.
    for (const failed of refused) {
      for (const event of failed.events) {
        const retried = received.get(event.target.digest!);
        expect(retried, `event ${event.id} (${event.target.digest}) was not retried`).toBeDefined();
        expect(retried!.event.id).toBe(event.id);
        expect(retried!.event).toEqual(event);
        expect(retried!.request.headers[DELIVERY_HEADER]).toBe(failed.headers[DELIVERY_HEADER]);
        expect(retried!.request.seq).toBeGreaterThan(failed.seq);
      }
    }
    // The API shows the retried deliveries succeeded after more than one attempt, with each attempt.
    const retriedIds = new Set(refused.flatMap((r) => r.events.map((e) => e.id)));
    const deliveries = await waitFor('every delivery succeeded in the API', async () => {
      const list = (await deliveriesOf(sub)).filter((d) => d.repository === repository);
      return list.length === 4 && list.every((d) => d.status === 'succeeded') && list;
    });
    for (const delivery of deliveries.filter((d) => retriedIds.has(d.eventId))) {
      expect(delivery.attempts).toBeGreaterThanOrEqual(2);
      const detail = await sub.api.delivery(sub.id, delivery.id);
      expect(detail.attempts.map((a) => a.statusCode)).toEqual([...Array(delivery.attempts - 1).fill(500), 200]);
      expect(detail.event.id).toBe(delivery.eventId);
    }
  });

  it('events pushed while Redis is stopped arrive once it is back', async () => {
    const sub = await subscribe();
    const repository = uid('outage/app-');
    await redis.stop();
    // The push must neither fail nor hang on the missing Redis: events wait in Postgres.
    const image = await within(15_000, 'a push while Redis is down', push(repository, 'during-outage'));
    expect(registry.running, registry.output()).toBe(true);
    await redis.start();
    const received = await waitForPushEvents(sub.hook, repository, image, 25_000);
    expect(received.get(image.digest)!.event.target.tag).toBe('during-outage');
  });

  it('events pending when the registry is killed (kill -9) arrive after it restarts', async () => {
    const sub = await subscribe();
    const repository = uid('crash/app-');
    // Without Redis nothing can be relayed: the events are pending when the process dies.
    await redis.stop();
    const image = await within(15_000, 'a push while Redis is down', push(repository, 'before-crash'));
    await registry.kill();
    expect(subscriber.events(sub.hook).filter((e) => e.event.target.repository === repository)).toEqual([]);
    await redis.start();
    await registry.start();
    const received = await waitForPushEvents(sub.hook, repository, image, 25_000);
    expect(received.get(image.digest)!.event.target.tag).toBe('before-crash');
    // Each event once per successful delivery: at least once, ids intact (a subscriber dedups by id).
    const ids = eventsFor(sub.hook, repository, { ok: true }).map((e) => e.event.id);
    expect(new Set(ids).size).toBe(4);
  });

  it('a retry waiting in Redis when the registry is killed (kill -9) is made after it restarts', async () => {
    // Manifest events only: one job, so that none is in the middle of an attempt at the kill
    // (an attempt cut short is BullMQ's stalled job: the next test).
    const sub = await subscribe({ ignoredMediaTypes: [BLOB_MEDIA_TYPE] });
    subscriber.failNext(sub.hook);
    const repository = uid('inflight/app-');
    const image = await push(repository, 'v1');
    // Kill between attempts: the last one recorded (and its job moved to BullMQ's delayed set)
    // and the next one still some time away, whatever the retry delays are.
    const failed = await waitFor(
      'a refused attempt with its retry at least 300 ms away',
      async () => {
        const d = (await deliveriesOf(sub)).find((x) => x.repository === repository && x.status === 'failed' && x.nextAttemptAt);
        if (!d) return undefined;
        const sinceAttempt = Date.now() - Date.parse(d.updatedAt);
        const untilRetry = Date.parse(d.nextAttemptAt!) - Date.now();
        return sinceAttempt >= 50 && untilRetry >= 300 && d;
      },
      { intervalMs: 20, timeoutMs: 20_000, detail: () => subscriber.describe(sub.hook) },
    );
    await registry.kill();
    subscriber.heal(sub.hook);
    await registry.start();
    const delivered = await waitFor('the retried manifest event', () => eventsFor(sub.hook, repository, { ok: true }).find(isManifestPush(image, 'v1')), {
      timeoutMs: 25_000,
      detail: () => subscriber.describe(sub.hook),
    });
    expect(delivered.event.id).toBe(failed.eventId);
    const after = await waitFor('the delivery to succeed in the API', async () => {
      const d = await sub.api.delivery(sub.id, failed.id);
      return d.status === 'succeeded' && d;
    });
    expect(after.attempts.at(-1)!.statusCode).toBe(200);
    expect(after.attempts.length).toBeGreaterThanOrEqual(2);
  });

  it('an attempt cut short by kill -9 is made again after the restart, within seconds (a stalled job)', async () => {
    const sub = await subscribe({ ignoredMediaTypes: [BLOB_MEDIA_TYPE], timeoutMs: 30_000 });
    subscriber.hold(sub.hook);
    const repository = uid('stalled/app-');
    const image = await push(repository, 'v1');
    await waitFor('the manifest event to be in flight at the subscriber', () => subscriber.events(sub.hook).find(isManifestPush(image, 'v1')), {
      timeoutMs: 20_000,
      detail: () => subscriber.describe(sub.hook),
    });
    await registry.kill();
    subscriber.heal(sub.hook);
    const restarted = Date.now();
    await registry.start();
    // BullMQ takes a job back once its lock has expired and a stalled check has seen it:
    // up to 20 s with the processor's settings (a minute with BullMQ's defaults).
    await waitFor('the cut-short delivery to be made again', () => eventsFor(sub.hook, repository, { ok: true }).find(isManifestPush(image, 'v1')), {
      timeoutMs: 35_000,
      detail: () => subscriber.describe(sub.hook),
    });
    expect(Date.now() - restarted).toBeLessThan(35_000);
  });

  it('with RUN_WORKERS=false the registry only records; the separate worker process delivers', async () => {
    const ownRedis = await RedisServer.start();
    cleanup.push(() => ownRedis.close());
    const recorder = await RegistryProcess.start({ redisUrl: ownRedis.url, env: { RUN_WORKERS: 'false' } });
    cleanup.push(() => recorder.close());
    const api = await WebhookApi.login(recorder.url, recorder.admin);
    const hook = uid('hook-');
    const sub = await api.create({ name: hook, url: subscriber.url(hook) });
    const repository = uid('worker/app-');
    const image = await new RegistryClient(recorder.url, recorder.admin).pushImage(repository, 'v1', buildImage());
    // The relay runs in the registry: the deliveries exist, pending, and nobody sends them.
    const pending = await waitFor('four pending deliveries', async () => {
      const list = await api.deliveries(sub.id);
      return list.length === 4 && list;
    });
    expect(pending.map((d) => d.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(subscriber.requests(hook)).toEqual([]);

    const worker = recorder.startWorker();
    cleanup.push(() => worker.stop());
    const received = await waitForPushEvents(hook, repository, image, 25_000).catch((err) => {
      throw new Error(`${err.message}\nworker output:\n${worker.output()}`);
    });
    expect(received.get(image.digest)!.event.target.tag).toBe('v1');
    expect(worker.running, worker.output()).toBe(true);
    await worker.stop();
  });

  it('a dead-lettered delivery shows as dead and is redelivered by the API, with the same event id', async () => {
    const sub = await subscribe({ maxAttempts: 2 });
    subscriber.failNext(sub.hook); // until healed
    const repository = uid('dead/app-');
    const image = await push(repository, 'v1');

    const dead = await waitFor(
      'the manifest delivery to be dead',
      async () => (await deliveriesOf(sub, 'dead')).find((d) => d.repository === repository && d.digest === image.digest),
      { timeoutMs: 20_000, detail: async () => `${JSON.stringify(await deliveriesOf(sub), null, 1)}\n${subscriber.describe(sub.hook)}` },
    );
    expect(dead).toMatchObject({ status: 'dead', attempts: 2, lastStatusCode: 500, action: 'push', tag: 'v1', eventId: expect.stringMatching(UUID) });
    const failedTries = eventsFor(sub.hook, repository).filter((e) => e.event.id === dead.eventId);
    expect(failedTries.map((e) => e.request.status)).toEqual([500, 500]);
    const detail = await sub.api.delivery(sub.id, dead.id);
    expect(detail.attempts.map((a) => a.statusCode)).toEqual([500, 500]);
    expect(detail.event.id).toBe(dead.eventId);

    subscriber.heal(sub.hook);
    const answer = await sub.api.redeliver(sub.id, dead.id);
    expect(answer.status, answer.text).toBe(202);
    const delivered = await waitFor('the redelivered event', () =>
      eventsFor(sub.hook, repository, { ok: true }).find((e) => e.event.id === dead.eventId),
    );
    // The same event, byte for byte apart from transport: a subscriber drops the duplicate by its id.
    expect(delivered.event).toEqual(failedTries[0].event);
    expect(delivered.request.headers[DELIVERY_HEADER]).toBe(failedTries[0].request.headers[DELIVERY_HEADER]);
    const after = await waitFor('the delivery to succeed in the API', async () => {
      const d = await sub.api.delivery(sub.id, dead.id);
      return d.status === 'succeeded' && d;
    });
    expect(after.attempts.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    expect((await deliveriesOf(sub, 'dead')).map((d) => d.id)).not.toContain(dead.id);
    // A succeeded delivery can be redelivered too (the subscriber may have lost it): the same event again.
    const again = await sub.api.redeliver(sub.id, dead.id);
    expect(again.status, again.text).toBe(202);
    await waitFor('the second redelivery', () => eventsFor(sub.hook, repository, { ok: true }).filter((e) => e.event.id === dead.eventId).length >= 2);
  });

  it('signs the exact body with the subscription secret (HMAC-SHA256); a wrong secret or body does not verify', async () => {
    const secret = `whsec-${randomBytes(16).toString('hex')}`;
    const sub = await subscribe({ secret });
    expect(sub.secret).toBe(secret);
    const generated = await subscribe(); // no secret given: one is generated and shown once
    expect(generated.secret.length).toBeGreaterThanOrEqual(32);
    const repository = uid('sig/app-');
    const image = await push(repository, 'signed');
    const received = await waitForPushEvents(sub.hook, repository, image);
    await waitForPushEvents(generated.hook, repository, image);

    for (const [hook, key] of [
      [sub.hook, secret],
      [generated.hook, generated.secret],
    ] as const) {
      const requests = subscriber.requests(hook).filter((r) => r.events.some((e) => e.target.repository === repository));
      expect(requests.length).toBeGreaterThanOrEqual(4);
      for (const request of requests) {
        expect(request.method).toBe('POST');
        expect(request.headers['content-type']).toMatch(new RegExp(`^${EVENTS_CONTENT_TYPE.replace(/[.+]/g, '\\$&')}`));
        expect(request.headers[SIGNATURE_HEADER]).toMatch(/^sha256=[0-9a-f]{64}$/);
        expect(verifySignature(request, key), `signature of #${request.seq}`).toBe(true);
        expect(verifySignature(request, `${key}x`)).toBe(false);
        expect(verifySignature(request, hook === sub.hook ? generated.secret : secret)).toBe(false);
        const tampered = Buffer.from(request.body.toString('utf8').replace('"push"', '"pull"'));
        expect(signatureOf(tampered, key)).not.toBe(request.headers[SIGNATURE_HEADER]);
        expect(request.headers[DELIVERY_HEADER]).toMatch(UUID);
        expect(request.events).toHaveLength(1);
        expect(request.headers[EVENT_HEADER]).toBe(request.events[0].id);
      }
    }
    // The listing never shows the secret again.
    const listed = await sub.api.api.get(`${sub.api.base}/${sub.id}`);
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(secret);
    expect(received.get(image.digest)!.event.target.tag).toBe('signed');
  });

  it('filters by action: a pull-only subscription gets no push, and gets the pull', async () => {
    const control = await subscribe();
    const pullOnly = await subscribe({ actions: ['pull'] });
    const repository = uid('act/app-');
    const image = await push(repository, 'v1');
    // Deliveries for all subscriptions of an event are decided together: once the control has
    // every push, the pull-only subscription's would exist too.
    const pushed = await waitForPushEvents(control.hook, repository, image);
    const pushIds = new Set([...pushed.values()].map((e) => e.event.id));
    expect((await deliveriesOf(pullOnly)).filter((d) => pushIds.has(d.eventId))).toEqual([]);

    const pulled = await new RegistryClient(registry.url, registry.admin).get(`/v2/${repository}/manifests/v1`, {
      headers: { Accept: image.mediaType },
    });
    expect(pulled.status).toBe(200);
    const pull = await waitFor('the pull event at the pull-only subscription', () =>
      eventsFor(pullOnly.hook, repository, { ok: true }).find((e) => e.event.action === 'pull'),
    );
    expect(pull.event.target).toMatchObject({ repository, digest: image.digest, mediaType: image.mediaType });
    expect(eventsFor(pullOnly.hook, repository).filter((e) => e.event.action !== 'pull')).toEqual([]);
    await waitFor('the pull at the control subscription', () => eventsFor(control.hook, repository, { ok: true }).some((e) => e.event.action === 'pull'));
  });

  it('filters by media type: ignoring application/octet-stream drops blob events and keeps the manifest', async () => {
    const control = await subscribe();
    const noBlobs = await subscribe({ ignoredMediaTypes: [BLOB_MEDIA_TYPE] });
    const repository = uid('mt/app-');
    const image = await push(repository, 'v1');
    const pushed = await waitForPushEvents(control.hook, repository, image);
    const manifest = await waitFor('the manifest event without blobs', () => eventsFor(noBlobs.hook, repository, { ok: true }).find(isManifestPush(image, 'v1')));
    expect(manifest.event.target.mediaType).toBe(image.mediaType);
    expect(eventsFor(noBlobs.hook, repository).filter((e) => e.event.target.mediaType === BLOB_MEDIA_TYPE)).toEqual([]);
    const blobIds = new Set([...pushed.values()].filter((e) => e.event.target.mediaType === BLOB_MEDIA_TYPE).map((e) => e.event.id));
    expect(blobIds.size).toBe(3);
    const deliveries = (await deliveriesOf(noBlobs)).filter((d) => d.repository === repository);
    expect(deliveries.map((d) => d.digest)).toEqual([image.digest]);
  });

  it('filters by repository pattern: * stays within one path component, ** crosses them', async () => {
    const prefix = uid('pat');
    const control = await subscribe();
    const single = await subscribe({ repositoryPattern: `${prefix}/app-*` });
    const deep = await subscribe({ repositoryPattern: `${prefix}/**` });
    const repos = { match: `${prefix}/app-one`, other: `${prefix}/lib-two`, nested: `${prefix}/app-x/deep` };
    const images = new Map<string, TestImage>();
    for (const repository of Object.values(repos)) images.set(repository, await push(repository, 'v1'));
    for (const [repository, image] of images) await waitForPushEvents(control.hook, repository, image);
    for (const [repository, image] of images) await waitForPushEvents(deep.hook, repository, image);
    await waitForPushEvents(single.hook, repos.match, images.get(repos.match)!);
    expect(eventsFor(single.hook, repos.other)).toEqual([]);
    expect(eventsFor(single.hook, repos.nested)).toEqual([]);
    const listed = new Set((await deliveriesOf(single)).map((d) => d.repository));
    expect([...listed]).toEqual([repos.match]);
  });

  it('a namespace subscription (made by an owner) sees only its namespace', async () => {
    const [ours, theirs] = [uid('nsa'), uid('nsb')];
    for (const name of [ours, theirs]) expectStatus(await hooks.api.post('/namespaces', { name }), 201);
    const owner = await createUser(hooks.api, 'own');
    expectStatus(await hooks.api.put(`/namespaces/${ours}/members/${owner.username}`, { role: 'owner' }), 201);
    const nsHooks = new WebhookApi(owner.api, ours);
    const control = await subscribe();
    const scoped = await subscribe({}, nsHooks);
    // An owner of one namespace cannot subscribe to another's, nor globally.
    expect([403, 404]).toContain((await owner.api.post(`/namespaces/${theirs}/webhooks`, { name: 'x', url: subscriber.url('x') })).status);
    expect((await owner.api.post('/webhooks', { name: 'x', url: subscriber.url('x') })).status).toBe(403);

    const mine = await push(`${ours}/app`, 'v1');
    const other = await push(`${theirs}/app`, 'v1');
    await waitForPushEvents(control.hook, `${theirs}/app`, other);
    await waitForPushEvents(control.hook, `${ours}/app`, mine);
    await waitForPushEvents(scoped.hook, `${ours}/app`, mine);
    expect(eventsFor(scoped.hook, `${theirs}/app`)).toEqual([]);
    expect(new Set((await deliveriesOf(scoped)).map((d) => d.repository))).toEqual(new Set([`${ours}/app`]));
  });

  it('reports mounts and every kind of delete: tag, manifest, blob and repository', async () => {
    const sub = await subscribe({ actions: ['mount', 'delete'] });
    const source = `${uid('del')}/src`;
    const repository = `${uid('del')}/app`;
    const image = await push(source, 'v1');
    const client = new RegistryClient(registry.url, registry.admin);
    const layer = sha256(image.layers[0]);
    const mounted = await client.post(`/v2/${repository}/blobs/uploads/?mount=${layer}&from=${source}`);
    expect(mounted.status, mounted.text).toBe(201);
    await client.pushImage(repository, 'v1', image);
    expect((await client.delete(`/v2/${repository}/manifests/v1`)).status).toBe(202);
    expect((await client.delete(`/v2/${repository}/manifests/${image.digest}`)).status).toBe(202);
    expect((await client.delete(`/v2/${repository}/blobs/${layer}`)).status).toBe(202);
    expectStatus(await hooks.api.delete(`/repositories/${repository}`), 204);

    const events = await waitFor(
      `the mount and four delete events of ${repository}`,
      () => {
        const got = eventsFor(sub.hook, repository, { ok: true }).map((e) => e.event);
        return got.length >= 5 && got;
      },
      { timeoutMs: 20_000, detail: () => subscriber.describe(sub.hook) },
    );
    expect(events.find((e) => e.action === 'mount')?.target).toMatchObject({ digest: layer, repository, fromRepository: source });
    const deletes = events.filter((e) => e.action === 'delete').map((e) => e.target);
    expect(deletes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tag: 'v1', digest: image.digest, repository }),
        expect.objectContaining({ digest: image.digest, repository, mediaType: image.mediaType }),
        expect.objectContaining({ digest: layer, repository }),
        { repository },
      ]),
    );
  });

  it("events carry the real tag, the robot's name as actor, and the request", async () => {
    const ns = uid('bot');
    expectStatus(await hooks.api.post('/namespaces', { name: ns }), 201);
    const robot = expectStatus(await hooks.api.post(`/namespaces/${ns}/robots`, { name: 'ci', actions: ['pull', 'push'] }), 201);
    const robotLogin = { username: robot.robot.username as string, password: robot.secret as string };
    const sub = await subscribe();
    const repository = `${ns}/svc`;
    const image = buildImage();
    const client = new RegistryClient(registry.url, robotLogin);
    for (const blob of image.blobs) await client.pushBlob(repository, blob);
    const userAgent = `berth-notify-test/${randomBytes(3).toString('hex')}`;
    const put = await client.put(`/v2/${repository}/manifests/1.2.3`, {
      headers: { 'Content-Type': image.mediaType, 'User-Agent': userAgent, 'X-Request-Id': 'req-notify-1' },
      body: image.manifestBytes,
    });
    expect(put.status, put.text).toBe(201);
    const started = Date.now();

    const received = await waitForPushEvents(sub.hook, repository, image);
    const manifest: RegistryEvent = received.get(image.digest)!.event;
    expect(manifest).toMatchObject({
      id: expect.stringMatching(UUID),
      action: 'push',
      target: {
        mediaType: image.mediaType,
        digest: image.digest,
        size: image.manifestBytes.length,
        length: image.manifestBytes.length,
        repository,
        tag: '1.2.3',
      },
      actor: { name: robotLogin.username },
      request: { method: 'PUT', useragent: userAgent, id: 'req-notify-1', host: `127.0.0.1:${registry.port}` },
      source: { instanceID: expect.any(String) },
    });
    expect(manifest.target.url).toContain(`/v2/${repository}/manifests/${image.digest}`);
    expect(manifest.request.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(manifest.source.instanceID.length).toBeGreaterThan(0);
    expect(Math.abs(Date.parse(manifest.timestamp) - started)).toBeLessThan(30_000);
    for (const blob of image.blobs) {
      const event = received.get(sha256(blob))!.event;
      expect(event).toMatchObject({
        action: 'push',
        target: { mediaType: BLOB_MEDIA_TYPE, digest: sha256(blob), size: blob.length, repository },
        actor: { name: robotLogin.username },
      });
      expect(event.target.tag).toBeUndefined();
    }
    const ids = [...received.values()].map((e) => e.event.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
