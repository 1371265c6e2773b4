import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, redisServerAvailable } from '../../libs/notifications/src/testing/redis-server.js';
import { WebhookSubscriber } from '../../libs/notifications/src/testing/webhook-subscriber.js';
import { Api } from '../admin/support.js';
import { ACCEPT_MANIFESTS, buildImage, uniq } from '../support/http.js';
import { postgresAvailable } from '../support/registry.js';
import { OPEN_DELIVERY_COUNTS_SQL } from '../../libs/observability/src/metrics/state-metrics.store.js';
import { type ObservedRegistry, sample, startObservedRegistry } from './support.js';

const available = await postgresAvailable();
if (!available) console.warn('[observability] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL.');
const withRedis = available && (await redisServerAvailable());

const MANIFEST_ROUTE = 'route="/v2/:name/manifests/:reference"';

/** Every node of an EXPLAIN (FORMAT JSON) plan. */
function planNodes(node: Record<string, any>): Record<string, any>[] {
  return [node, ...((node.Plans as Record<string, any>[] | undefined) ?? []).flatMap(planNodes)];
}

describe.skipIf(!available)('health, metrics and logs', () => {
  let registry: ObservedRegistry;

  beforeAll(async () => {
    registry = await startObservedRegistry();
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('/health/live answers 200 without credentials and without asking any dependency', async () => {
    const res = await fetch(`${registry.url}/health/live`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
  });

  it('/health/ready reports the database and the storage driver (no Redis without REDIS_URL)', async () => {
    const res = await fetch(`${registry.url}/health/ready`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.status).toBe('ok');
    expect(body.details.database.status).toBe('up');
    expect(body.details.storage.status).toBe('up');
    expect(body.details.redis).toBeUndefined();
  });

  it('/metrics counts requests by route template and status, with bytes, and names no repository', async () => {
    const repo = `${uniq('obs')}/app`;
    const image = buildImage({ layers: 2, layerSize: 40_000 });
    await registry.client.pushImage(repo, 'v1', image);
    for (let i = 0; i < 3; i++) {
      expect((await registry.client.get(`/v2/${repo}/manifests/v1`, { headers: { Accept: ACCEPT_MANIFESTS } })).status).toBe(200);
    }
    expect((await registry.client.get(`/v2/${repo}/blobs/${image.descriptor.digest.replace(/.$/, '0')}`)).status).toBe(404);

    const res = await fetch(`${registry.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(sample(text, `berth_http_requests_total{method="GET",${MANIFEST_ROUTE},status="200"}`)).toBe(3);
    expect(sample(text, `berth_http_requests_total{method="PUT",${MANIFEST_ROUTE},status="201"}`)).toBe(1);
    expect(sample(text, `berth_http_requests_total{method="PUT",route="/v2/:name/blobs/uploads/:uuid",status="201"}`)).toBe(3);
    expect(sample(text, `berth_http_request_duration_seconds_count{method="GET",${MANIFEST_ROUTE},status="200"}`)).toBe(3);
    expect(sample(text, `berth_http_request_duration_seconds_bucket{le="+Inf",method="GET",${MANIFEST_ROUTE},status="200"}`)).toBe(3);
    // The blob bodies (config and two 40 kB layers) arrived through the upload route.
    expect(sample(text, `berth_http_received_bytes_total{method="PUT",route="/v2/:name/blobs/uploads/:uuid"}`)).toBeGreaterThanOrEqual(80_000);
    expect(sample(text, `berth_http_sent_bytes_total{method="GET",${MANIFEST_ROUTE}}`)).toBeGreaterThanOrEqual(3 * image.manifestBytes.length);
    expect(sample(text, 'berth_uploads_in_flight')).toBe(0);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).not.toContain(repo.split('/')[0]);

    // The scrape before this one is counted too, under its own route.
    const again = await (await fetch(`${registry.url}/metrics`)).text();
    expect(sample(again, 'berth_http_requests_total{method="GET",route="/metrics",status="200"}')).toBeGreaterThanOrEqual(1);
  });

  it('a URL no route matches is counted as "unmatched" and an invented method as "other"', async () => {
    await fetch(`${registry.url}/no/such/${uniq('path')}`);
    await registry.client.request('PROPFIND', `/${uniq('nowhere')}`);
    const text = await (await fetch(`${registry.url}/metrics`)).text();
    expect(sample(text, 'berth_http_requests_total{method="GET",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'berth_http_requests_total{method="other",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('nowhere');
  });

  it('webhook deliveries and garbage-collection runs are read from Postgres at scrape time', async () => {
    const [webhook] = await registry.sql(
      `INSERT INTO webhooks (id, name, url, secret_encrypted, enabled, created_by)
       VALUES (gen_random_uuid(), 'metrics', 'http://example.invalid/', 'x', false, 'test') RETURNING id`,
    );
    for (const status of ['succeeded', 'succeeded', 'dead', 'pending', 'failed', 'failed']) {
      await registry.sql(
        `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status) VALUES (gen_random_uuid(), $1, gen_random_uuid(), 'push', '{}', $2)`,
        [webhook.id, status],
      );
    }
    await registry.sql(
      `INSERT INTO gc_runs (status, finished_at, dry_run, delete_untagged, trigger, bytes_freed) VALUES
         ('succeeded', '2026-11-26T10:00:00Z', false, false, 'api', 5000000000),
         ('succeeded', '2026-11-26T11:00:00Z', true, false, 'cli', 700),
         ('failed', '2026-11-26T12:00:00Z', false, false, 'schedule', 0),
         ('running', NULL, false, true, 'api', 0)`,
    );
    const text = await (await fetch(`${registry.url}/metrics`)).text();
    // Only the open deliveries are counted; finished ones are history.
    expect(sample(text, 'berth_webhook_deliveries{status="pending"}')).toBe(1);
    expect(sample(text, 'berth_webhook_deliveries{status="failed"}')).toBe(2);
    expect(sample(text, 'berth_webhook_deliveries{status="succeeded"}')).toBeUndefined();
    expect(sample(text, 'berth_webhook_deliveries{status="dead"}')).toBeUndefined();
    expect(sample(text, 'berth_gc_runs{status="succeeded"}')).toBe(2);
    expect(sample(text, 'berth_gc_runs{status="failed"}')).toBe(1);
    expect(sample(text, 'berth_gc_runs{status="running"}')).toBe(1);
    // Dry runs free nothing: only the real run's bytes count.
    expect(sample(text, 'berth_gc_bytes_freed_total')).toBe(5_000_000_000);
    expect(sample(text, 'berth_gc_last_success_timestamp_seconds')).toBe(Date.parse('2026-11-26T11:00:00Z') / 1000);
    // No Redis: no queue figures.
    expect(text).not.toMatch(/^berth_webhook_queue_jobs\{/m);
  });

  it('the scrape counts open deliveries through their partial index, never a GROUP BY over the whole history', async () => {
    const [webhook] = await registry.sql(
      `INSERT INTO webhooks (id, name, url, secret_encrypted, enabled, created_by)
       VALUES (gen_random_uuid(), 'history', 'http://example.invalid/', 'x', false, 'test') RETURNING id`,
    );
    // A long history of finished deliveries, a few open ones, and statistics that say so.
    await registry.sql(
      `INSERT INTO webhook_deliveries (id, webhook_id, event_id, action, payload, status)
       SELECT gen_random_uuid(), $1, gen_random_uuid(), 'push', '{}', CASE WHEN i % 5000 = 0 THEN 'pending' ELSE 'succeeded' END
         FROM generate_series(1, 50000) AS i`,
      [webhook.id],
    );
    await registry.sql('ANALYZE webhook_deliveries');
    const [{ 'QUERY PLAN': plan }] = await registry.sql(`EXPLAIN (FORMAT JSON) ${OPEN_DELIVERY_COUNTS_SQL}`);
    const scans = planNodes(plan[0].Plan).filter((node) => node['Relation Name'] === 'webhook_deliveries' || node['Index Name']);
    expect(scans.map((node) => node['Node Type'])).not.toContain('Seq Scan');
    expect(scans.map((node) => node['Index Name'])).toContain('webhook_deliveries_open_idx');
    const text = await (await fetch(`${registry.url}/metrics`)).text();
    expect(sample(text, 'berth_webhook_deliveries{status="pending"}')).toBeGreaterThanOrEqual(10);
  });

  it('echoes a valid X-Request-Id, and replaces a missing or unsafe one with a UUID', async () => {
    const given = await registry.client.get('/v2/', { headers: { 'X-Request-Id': 'proxy-1234.abc' } });
    expect(given.headers.get('x-request-id')).toBe('proxy-1234.abc');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const missing = await registry.client.get('/v2/');
    expect(missing.headers.get('x-request-id')).toMatch(uuid);
    const unsafe = await registry.client.get('/v2/', { headers: { 'X-Request-Id': 'a b"<script>' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(uuid);
    const long = await registry.client.get('/v2/', { headers: { 'X-Request-Id': 'x'.repeat(129) } });
    expect(long.headers.get('x-request-id')).toMatch(uuid);
    // Errors carry it too: an unauthenticated request and an unknown path.
    const denied = await registry.client.get('/v2/', { auth: null, headers: { 'X-Request-Id': 'denied-1' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('x-request-id')).toBe('denied-1');
    expect((await fetch(`${registry.url}/nowhere`)).headers.get('x-request-id')).toMatch(uuid);
  });

  it('logs one JSON line per request with its id, user, repository, status and outcome, and no credentials', async () => {
    const repo = `${uniq('logged')}/app`;
    const requestId = `log-test-${uniq()}`;
    const image = buildImage({ layers: 1 });
    for (const blob of image.blobs) await registry.client.pushBlob(repo, blob);
    const put = await registry.client.put(`/v2/${repo}/manifests/v1`, {
      headers: { 'Content-Type': image.mediaType, 'X-Request-Id': requestId },
      body: image.manifestBytes,
    });
    expect(put.status).toBe(201);
    const tokenAnswer = await fetch(`${registry.url}/auth/token?service=berth-registry&scope=repository:${repo}:pull&account=admin`, {
      headers: { Authorization: `Basic ${Buffer.from(`admin:${registry.admin.password}`).toString('base64')}` },
    });
    expect(tokenAnswer.status).toBe(200);
    const { token } = await tokenAnswer.json();
    expect((await registry.client.get(`/v2/${repo}/manifests/v1`, { auth: { token }, headers: { Accept: ACCEPT_MANIFESTS } })).status).toBe(200);
    const denied = await registry.client.get(`/v2/${repo}/manifests/v1`, { auth: { username: 'admin', password: 'wrong-password-123' } });
    expect(denied.status).toBe(401);
    await fetch(`${registry.url}/health/live`);

    const entries = registry.entries();
    const line = entries.find((e) => e.requestId === requestId);
    expect(line).toMatchObject({
      level: 'info',
      service: 'registry',
      msg: 'request completed',
      method: 'PUT',
      url: `/v2/${repo}/manifests/v1`,
      route: '/v2/:name/manifests/:reference',
      status: 201,
      outcome: 'success',
      user: 'admin',
      repository: repo,
    });
    expect(line!.bytesIn).toBe(image.manifestBytes.length);
    expect(line!.bytesOut).toBeGreaterThan(0);
    expect(line!.durationMs).toBeGreaterThanOrEqual(0);
    expect(typeof line!.time).toBe('string');

    const tokenLine = entries.find((e) => e.route === '/auth/token');
    // The token endpoint's query (account, scopes) is left out of its line.
    expect(tokenLine).toMatchObject({ url: '/auth/token', status: 200 });
    const pull = entries.find((e) => e.method === 'GET' && e.repository === repo);
    expect(pull).toMatchObject({ status: 200, user: 'admin', outcome: 'success' });
    expect(entries.find((e) => e.repository === repo && e.status === 401)).toMatchObject({ outcome: 'client_error' });
    // Probes are logged at debug only, below LOG_LEVEL=log.
    expect(entries.some((e) => typeof e.url === 'string' && e.url.startsWith('/health'))).toBe(false);

    const all = registry.lines.join('');
    expect(all.toLowerCase()).not.toContain('authorization');
    expect(all).not.toContain(registry.admin.password);
    expect(all).not.toContain('wrong-password-123');
    expect(all).not.toContain(token);
    // Nest's own messages are JSON lines too, with their context.
    expect(entries.some((e) => e.context === 'RoutesResolver' || e.context === 'RouterExplorer')).toBe(true);
  });
});

describe.skipIf(!withRedis)('readiness with Redis, and a protected /metrics', () => {
  let redis: RedisServer;
  let registry: ObservedRegistry;
  const metricsToken = 'metrics-token-0123456789';

  beforeAll(async () => {
    redis = await RedisServer.start();
    registry = await startObservedRegistry({ REDIS_URL: redis.url, METRICS_TOKEN: metricsToken });
  });
  afterAll(async () => {
    await registry?.close();
    await redis?.stop();
  });

  it('/health/ready includes Redis while it answers', async () => {
    const res = await fetch(`${registry.url}/health/ready`);
    expect(res.status).toBe(200);
    expect((await res.json()).details).toMatchObject({ database: { status: 'up' }, storage: { status: 'up' }, redis: { status: 'up' } });
  });

  it('/metrics needs the bearer METRICS_TOKEN and then shows the delivery queue', async () => {
    const anonymous = await fetch(`${registry.url}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer');
    expect((await fetch(`${registry.url}/metrics`, { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const res = await fetch(`${registry.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const state of ['waiting', 'active', 'delayed', 'failed']) {
      expect(sample(text, `berth_webhook_queue_jobs{state="${state}"}`), state).toBe(0);
    }
  });

  it('/health/ready stays 200 once Redis stops, reporting it degraded (an optional dependency), and /health/live stays 200', async () => {
    await redis.kill();
    let body: any;
    let status = 0;
    // The check result is cached for a second and the client notices the closed connection at once.
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${registry.url}/health/ready`);
      status = res.status;
      body = await res.json();
      if (body.details?.redis?.status !== 'up') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    expect(body.status).toBe('degraded');
    expect(body.details.redis.status).toBe('degraded');
    expect(body.error).toEqual({});
    expect(body.details.database.status).toBe('up');
    expect(body.details.storage.status).toBe('up');
    expect((await fetch(`${registry.url}/health/live`)).status).toBe(200);
    const text = await (await fetch(`${registry.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } })).text();
    expect(text).not.toMatch(/^berth_webhook_queue_jobs\{/m);
  });
});

describe.skipIf(!withRedis)('request ids in webhook events', () => {
  let redis: RedisServer;
  let subscriber: WebhookSubscriber;
  let registry: ObservedRegistry;

  beforeAll(async () => {
    redis = await RedisServer.start();
    subscriber = await WebhookSubscriber.start();
    registry = await startObservedRegistry({ REDIS_URL: redis.url, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
  });
  afterAll(async () => {
    await registry?.close();
    await subscriber?.close();
    await redis?.stop();
  });

  it('a push event carries the request id the push was logged under', async () => {
    const admin = await Api.login(registry.url, registry.admin);
    expect((await admin.request('POST', '/api/v1/webhooks', { name: 'obs', url: subscriber.url, actions: ['push'] })).status).toBe(201);
    const repo = `${uniq('evented')}/app`;
    const requestId = `event-${uniq()}`;
    const image = buildImage({ layers: 1 });
    for (const blob of image.blobs) await registry.client.pushBlob(repo, blob);
    const put = await registry.client.put(`/v2/${repo}/manifests/v1`, {
      headers: { 'Content-Type': image.mediaType, 'X-Request-Id': requestId },
      body: image.manifestBytes,
    });
    expect(put.status).toBe(201);
    const deadline = Date.now() + 15_000;
    let event: any;
    while (!event && Date.now() < deadline) {
      event = subscriber.events().find((e) => e.target.repository === repo && e.target.tag === 'v1');
      if (!event) await new Promise((r) => setTimeout(r, 100));
    }
    expect(event, 'the manifest push event').toBeDefined();
    expect(event.request.id).toBe(requestId);
    expect(registry.entries().find((e) => e.requestId === requestId)).toMatchObject({ status: 201, repository: repo });
  });
});
