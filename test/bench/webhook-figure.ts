/**
 * Figure 7 (Berth only): what an active webhook subscription that wants pull events
 * costs the hottest read path. A separate Berth instance runs with notifications on
 * (a private redis-server, WEBHOOK_ALLOW_PRIVATE_TARGETS=true, delivery inside the
 * registry process: RUN_WORKERS' default) next to a tiny subscriber in its own
 * process that answers 200. Step 5's manifest GET load runs twice on it: first with
 * no subscription, then with a global subscription for every action. The figure is
 * the ratio of the two throughputs (with / without).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { errorMessage, Scope } from './cleanup.js';
import { type CpuCost, measureCpu } from './cpu-time.js';
import { redisInstalled, type BenchConfig } from './config.js';
import { manifestLoad, type Clients, type ManifestLoad } from './neutral-clients.js';
import { RegistryClient } from './registry-client.js';
import { freePort, startServer, type ServerProcess } from './server-process.js';
import { startBerth } from './target-berth.js';
import { describeLoad, manifestPaths, pushImagesConcurrently, verifyManifests, type RoundData } from './workload.js';

export interface WebhookFigures {
  /** Notifications on (REDIS_URL set), no subscription. */
  off: ManifestLoad & { cpu: CpuCost | null };
  /** The same load with a subscription for every action (each GET is a pull event). */
  on: ManifestLoad & { cpu: CpuCost | null };
  /** on / off requests per second; null when either run had errors. */
  ratio: number | null;
  /**
   * on / off CPU per pull, for the whole machine: what recording and delivering the
   * pull events cost in all (null when unmeasured). Steadier than `ratio` on a shared VM.
   */
  cpuRatio: number | null;
  /** Pull events the subscriber had received when the "on" run ended (deliveries may lag behind). */
  pullEventsDeliveredDuringRun: number;
  /** Manifest GETs answered 200 during the "on" run: the pull events it caused. */
  pullsDuringRun: number;
  durationSec: number;
}

export type WebhookResult =
  | { status: 'ok'; notes: string[]; figures: WebhookFigures }
  | { status: 'skipped' | 'failed'; notes: string[]; error: string };

const round2 = (value: number) => Math.round(value * 100) / 100;

/** The subscriber: counts requests and pull events, answers 200; GET /stats reports the counts. */
const SUBSCRIBER_SCRIPT = `
const http = require('node:http');
let requests = 0, pulls = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requests, pulls }));
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    requests++;
    pulls += body.split('"action":"pull"').length - 1;
    res.writeHead(200);
    res.end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.PORT), '127.0.0.1');
`;

interface SubscriberStats {
  requests: number;
  pulls: number;
}

async function subscriberStats(url: string): Promise<SubscriberStats> {
  const res = await request(`${url}/stats`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
  if (res.statusCode !== 200) throw new Error(`subscriber /stats answered ${res.statusCode}`);
  return (await res.body.json()) as SubscriberStats;
}

async function waitUntil(what: string, server: ServerProcess | undefined, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (server?.hasExited()) throw new Error(`${server.label} exited: ${server.outputTail().slice(-2000) || '(no output)'}`);
    try {
      if (await probe()) return;
    } catch (err) {
      last = errorMessage(err);
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last: ${last})` : ''}`);
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      answer += data.toString('latin1');
      if (answer.includes('\r\n')) finish(answer.startsWith('+PONG'));
    });
  });
}

async function startRedis(config: BenchConfig, scope: Scope): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-redis-'));
  scope.defer('remove redis dir', () => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const server = startServer(
    scope,
    'redis-server',
    config.redisBin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { env: process.env, cwd: dir },
  );
  await waitUntil('redis-server to answer PING', server, () => redisPing(port), 10_000);
  return `redis://127.0.0.1:${port}`;
}

async function startSubscriber(config: BenchConfig, scope: Scope): Promise<string> {
  const port = await freePort();
  const server = startServer(scope, 'webhook subscriber', process.execPath, ['-e', SUBSCRIBER_SCRIPT], {
    env: { ...process.env, PORT: String(port) },
    cwd: config.repoRoot,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('the subscriber to listen', server, async () => (await subscriberStats(url)).requests === 0, 10_000);
  return url;
}

async function adminApi(baseUrl: string, admin: { username: string; password: string }) {
  const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(admin),
  });
  if (login.status !== 200) throw new Error(`admin login answered ${login.status}: ${(await login.text()).slice(0, 300)}`);
  const { token } = (await login.json()) as { token: string };
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };
}

/** Runs figure 7 in its own scope (its servers are gone when it returns), on round 1's images. Never throws. */
export async function runWebhookFigure(config: BenchConfig, clients: Clients, data: RoundData, log: (line: string) => void): Promise<WebhookResult> {
  const notes: string[] = [];
  const skip = (error: string): WebhookResult => {
    log(`7. skipped: ${error}`);
    return { status: 'skipped', notes, error };
  };
  if (!config.webhooks) return skip('BENCH_WEBHOOKS=0');
  if (!redisInstalled(config)) return skip(`${config.redisBin} not found (apt-get install redis-server)`);

  let scope: Scope | undefined;
  const started = performance.now();
  try {
    scope = new Scope('berth-webhooks');
    const redisUrl = await startRedis(config, scope);
    const subscriberUrl = await startSubscriber(config, scope);
    const repo = data.repos.images;
    const { target, admin } = await startBerth(config, scope, {
      mode: { database: 'postgres', auth: 'bearer' },
      repositories: [repo],
      label: 'Berth (notifications on)',
      env: { REDIS_URL: redisUrl, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' },
    });
    notes.push(
      'separate Berth instance (Postgres, bearer token) with REDIS_URL (private redis-server) and delivery in-process (RUN_WORKERS default)',
      'subscriber: a separate node process answering 200',
    );
    log(`Berth with notifications up at ${target.baseUrl} (pid ${target.server.pid}), redis ${redisUrl}, subscriber ${subscriberUrl}`);

    const client = new RegistryClient(target.baseUrl, target.authorization);
    try {
      await pushImagesConcurrently(client, config, repo, data.images);
      await verifyManifests(client, repo, data.images);
    } finally {
      await client.close();
    }

    const load = () => manifestLoad(config, clients, target, manifestPaths(repo, data.images), config.webhookDurationSec);
    const off = await measureCpu(target.server.pid, load);
    log(`7. manifest GET, notifications on, no subscription: ${describeLoad(off)}`);

    const api = await adminApi(target.baseUrl, admin);
    const created = await api('POST', '/webhooks', {
      name: `bench-${randomBytes(3).toString('hex')}`,
      url: `${subscriberUrl}/hook`,
      actions: ['push', 'pull', 'mount', 'delete'],
    });
    if (created.status !== 201) throw new Error(`POST /api/v1/webhooks answered ${created.status}: ${created.text.slice(0, 400)}`);

    // The subscription must be live before the run: one pull, delivered, proves it.
    const probe = data.images[0];
    const probeClient = new RegistryClient(target.baseUrl, target.authorization);
    try {
      await waitUntil(
        'a pull event to reach the subscriber after subscribing',
        target.server,
        async () => {
          if ((await subscriberStats(subscriberUrl)).pulls > 0) return true;
          await probeClient.getManifestDigest(repo, probe.tag);
          await sleep(200);
          return (await subscriberStats(subscriberUrl)).pulls > 0;
        },
        15_000,
      );
    } finally {
      await probeClient.close();
    }

    const before = await subscriberStats(subscriberUrl);
    const on = await measureCpu(target.server.pid, load);
    const after = await subscriberStats(subscriberUrl);
    const delivered = after.pulls - before.pulls;
    log(
      `7. manifest GET, pull webhook subscription on: ${describeLoad(on)}; ` +
        `${delivered} of ${on.ok} pull events delivered by the end of the run`,
    );
    const ratio = on.requestsPerSec !== null && off.requestsPerSec ? round2(on.requestsPerSec / off.requestsPerSec) : null;
    log(`7. with / without subscription: ${ratio === null ? 'FAIL' : `${ratio.toFixed(2)}x`}`);
    const cpuRatio = off.cpu && on.cpu ? round2(on.cpu.machineMsPer1000 / off.cpu.machineMsPer1000) : null;
    log(
      `7. CPU per 1000 pulls, machine (registry): ${describeCpu(off.cpu)} without, ${describeCpu(on.cpu)} with; ` +
        `with / without: ${cpuRatio === null ? '-' : `${cpuRatio.toFixed(2)}x`}`,
    );
    return {
      status: 'ok',
      notes,
      figures: { off, on, ratio, cpuRatio, pullEventsDeliveredDuringRun: delivered, pullsDuringRun: on.ok, durationSec: config.webhookDurationSec },
    };
  } catch (err) {
    const error = errorMessage(err);
    log(`7. FAILED: ${error}`);
    return { status: 'failed', notes, error };
  } finally {
    await scope?.close();
    log(`7. done in ${((performance.now() - started) / 1000).toFixed(1)}s (servers stopped)`);
  }
}

function describeCpu(cpu: CpuCost | null): string {
  return cpu ? `${cpu.machineMsPer1000} ms (${cpu.registryMsPer1000} ms)` : '-';
}
