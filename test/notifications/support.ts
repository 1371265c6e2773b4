/**
 * Helpers for the webhook notification suite (test/notifications): a private
 * redis-server that can be stopped and started again on the same port, a local HTTP
 * subscriber that records what it receives and can be told to fail, and the BUILT
 * registry (dist/apps/registry/src/main.js) as a child process that can be killed
 * with SIGKILL and started again on the same database and data directory.
 *
 * Every child process started here is tracked and killed by stopAllChildren()
 * (call it in afterAll) and, as a last resort, when the test process exits.
 */
import type { RegistryEvent as BerthEvent } from '@berth/notifications';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import { createConnection, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Api } from '../admin/support.js';
import { TestDatabase, postgresAvailable } from '../support/database.js';
import { rememberCredentials, type Credentials } from '../support/registry.js';
import { tiedToThisProcess } from '../support/tied-process.js';
import { freePort } from '../support/ports.js';
export { freePort } from '../support/ports.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REGISTRY_MAIN = join(REPO_ROOT, 'dist', 'apps', 'registry', 'src', 'main.js');
export const WORKER_MAIN = join(REPO_ROOT, 'dist', 'apps', 'worker', 'src', 'main.js');
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN || '/usr/bin/redis-server';

/** What every delivery carries (libs/notifications/src/delivery/). */
export const EVENTS_CONTENT_TYPE = 'application/vnd.docker.distribution.events.v1+json';
export const SIGNATURE_HEADER = 'x-berth-signature';
export const DELIVERY_HEADER = 'x-berth-delivery';
export const EVENT_HEADER = 'x-berth-event';

// ---------------------------------------------------------------------------
// availability and the build

/**
 * Whether the suite can run: Postgres reachable and redis-server installed. Under
 * CI=true a missing prerequisite throws (a failure, never a silent skip).
 */
export async function notificationsSuiteAvailable(suite: string): Promise<boolean> {
  const postgres = await postgresAvailable(); // throws under CI
  const redis = existsSync(REDIS_SERVER_BIN);
  if (!redis && process.env.CI === 'true') {
    throw new Error(`[${suite}] ${REDIS_SERVER_BIN} not found (apt-get install redis-server, or set REDIS_SERVER_BIN)`);
  }
  if (!postgres || !redis) {
    const missing = [
      !postgres ? 'Postgres is not reachable at TEST_DATABASE_URL' : '',
      !redis ? `${REDIS_SERVER_BIN} is missing (apt-get install redis-server, or set REDIS_SERVER_BIN)` : '',
    ].filter(Boolean);
    console.warn(`[${suite}] SKIPPED: ${missing.join('; ')}.`);
    return false;
  }
  return true;
}

/** Inputs of `npm run build`: when any is newer than the built entry point, the build is stale. */
const BUILD_INPUT_DIRS = ['apps', 'libs', 'migrations'];
const BUILD_INPUT_FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules') continue;
      newest = Math.max(newest, await newestMtime(path));
    } else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) {
      newest = Math.max(newest, (await stat(path)).mtimeMs);
    }
  }
  return newest;
}

/** Why dist/ must be rebuilt, or undefined when it is up to date. */
export async function buildStaleness(): Promise<string | undefined> {
  if (!existsSync(REGISTRY_MAIN)) return 'dist/apps/registry/src/main.js does not exist';
  const built = statSync(REGISTRY_MAIN).mtimeMs;
  let newest = 0;
  for (const dir of BUILD_INPUT_DIRS) newest = Math.max(newest, await newestMtime(join(REPO_ROOT, dir)));
  for (const file of BUILD_INPUT_FILES) {
    const path = join(REPO_ROOT, file);
    if (existsSync(path)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest > built ? 'sources are newer than dist/apps/registry/src/main.js' : undefined;
}

const BUILD_LOCK = join(tmpdir(), `berth-build-${Buffer.from(REPO_ROOT).toString('hex').slice(-24)}.lock`);

/**
 * Runs `npm run build` once when the built registry is missing or older than its
 * sources (a lock keeps two test processes from building into dist/ at once).
 * BERTH_TEST_SKIP_BUILD=1 uses dist/ as it is (it must exist).
 */
export async function ensureBuilt(): Promise<void> {
  if (['1', 'true'].includes(process.env.BERTH_TEST_SKIP_BUILD ?? '')) {
    if (!existsSync(REGISTRY_MAIN)) throw new Error(`${REGISTRY_MAIN} is missing and BERTH_TEST_SKIP_BUILD is set: run npm run build`);
    return;
  }
  if (!(await buildStaleness())) return;
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK);
      break;
    } catch {
      // A lock older than 10 minutes belongs to a build that died.
      try {
        if (Date.now() - statSync(BUILD_LOCK).mtimeMs > 10 * 60_000) rmSync(BUILD_LOCK, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`another build holds ${BUILD_LOCK}`);
      await sleep(500);
    }
  }
  try {
    const reason = await buildStaleness(); // another process may have built meanwhile
    if (!reason) return;
    console.warn(`[notifications] building the registry (${reason}): npm run build`);
    const started = Date.now();
    let output = '';
    const code = await new Promise<number | null>((resolveCode) => {
      const child = spawn('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      track(child);
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-10_000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      child.once('error', (err) => {
        output += `\n${err.message}`;
        resolveCode(null);
      });
      child.once('exit', (c) => resolveCode(c));
    });
    if (code !== 0) throw new Error(`npm run build exited ${code}:\n${output.trim().split('\n').slice(-40).join('\n')}`);
    console.warn(`[notifications] build done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } finally {
    rmSync(BUILD_LOCK, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// child processes

const children = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** SIGKILLs every child this module started that is still running (for afterAll). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGKILL');
          setTimeout(done, 5000).unref();
        }),
    ),
  );
}

const OUTPUT_TAIL = 32 * 1024;

/** A child whose output is kept (its tail) and whose exit is observed. */
class Child {
  private tail = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done = false;
  /** Set before a kill we ask for, so an unexpected death can be told apart. */
  expectedExit = false;

  constructor(
    readonly label: string,
    readonly process: ChildProcess,
  ) {
    track(process);
    const keep = (chunk: Buffer) => {
      this.tail = (this.tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    process.stdout?.on('data', keep);
    process.stderr?.on('data', keep);
    this.exited = new Promise((resolveExit) => {
      process.once('exit', (code, signal) => {
        this.done = true;
        resolveExit({ code, signal });
      });
      process.once('error', (err) => {
        keep(Buffer.from(`\n[spawn error] ${err.message}\n`));
        this.done = true;
        resolveExit({ code: null, signal: null });
      });
    });
  }

  get hasExited(): boolean {
    return this.done;
  }

  output(lines = 40): string {
    return this.tail
      .replace(/\x1b\[[0-9;]*m/g, '')
      .trim()
      .split('\n')
      .slice(-lines)
      .join('\n');
  }

  async kill(signal: NodeJS.Signals, graceMs = 5000): Promise<void> {
    this.expectedExit = true;
    if (this.done) return;
    this.process.kill(signal);
    const timer = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([this.exited, timer])) === 'timeout' && !this.done) {
      this.process.kill('SIGKILL');
      await this.exited;
    }
  }
}

// ---------------------------------------------------------------------------
// redis-server

/** Sends PING over a raw socket; true on +PONG. */
function redisPing(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const finish = (ok: boolean) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      answer += data.toString('latin1');
      if (answer.includes('\r\n')) finish(answer.startsWith('+PONG'));
    });
  });
}

/** A private redis-server (no persistence: a restart loses every key, like a crashed Redis). */
export class RedisServer {
  private child: Child | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'berth-e2e-redis-'));
    const redis = new RedisServer(await freePort(), dir);
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && !this.child.hasExited;
  }

  async start(): Promise<void> {
    if (this.running) return;
    // Dies with the test process: an interrupted run leaves no redis-server behind.
    const child = spawn(
      ...tiedToThisProcess(REDIS_SERVER_BIN, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = new Child('redis-server', child);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (this.child.hasExited) throw new Error(`redis-server exited at start:\n${this.child.output()}`);
      if (await redisPing(this.port)) return;
      await sleep(50);
    }
    throw new Error(`redis-server did not answer PING on port ${this.port} within 10s:\n${this.child.output()}`);
  }

  /** Stops the server (SIGTERM, SIGKILL after 3 s); its keys are lost. */
  async stop(): Promise<void> {
    await this.child?.kill('SIGTERM', 3000);
    this.child = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// the webhook subscriber

/** Berth's event, with `action` widened: test pings arrive with action `ping`. */
export type RegistryEvent = Omit<BerthEvent, 'action'> & { action: string };

export interface ReceivedRequest {
  seq: number;
  /** Which hook, the part after /hooks/ (one per subscription in the tests). */
  hook: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** What the subscriber answered (0: held, never answered). */
  status: number;
  at: number;
  /** The events of the body (empty when it is not the events envelope). */
  events: RegistryEvent[];
}

export interface ReceivedEvent {
  event: RegistryEvent;
  request: ReceivedRequest;
}

/**
 * An HTTP server on 127.0.0.1 that records every request (headers and raw body)
 * and answers 200, or 500 while failures are scheduled for that hook.
 * Subscriptions point at `url(hook)`, one hook name per subscription.
 */
export class Subscriber {
  readonly received: ReceivedRequest[] = [];
  private readonly failures = new Map<string, number>();
  private readonly held = new Set<string>();
  private seq = 0;

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<Subscriber> {
    let subscriber: Subscriber | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => subscriber!.answer(req, Buffer.concat(chunks), res));
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    subscriber = new Subscriber(server, (server.address() as AddressInfo).port);
    return subscriber;
  }

  private answer(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://subscriber').pathname;
    const hook = path.startsWith('/hooks/') ? decodeURIComponent(path.slice('/hooks/'.length)) : path;
    const held = this.held.has(hook);
    const pending = this.failures.get(hook) ?? 0;
    const status = held ? 0 : pending > 0 ? 500 : 200;
    if (!held && pending > 0) this.failures.set(hook, pending - 1);
    let events: RegistryEvent[] = [];
    try {
      const parsed = JSON.parse(body.toString('utf8'));
      if (Array.isArray(parsed?.events)) events = parsed.events;
    } catch {
      /* not JSON: recorded as is */
    }
    this.received.push({ seq: ++this.seq, hook, method: req.method ?? '', headers: req.headers, body, status, at: Date.now(), events });
    if (held) return;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 ? 'ok' : 'scheduled failure');
  }

  url(hook: string): string {
    return `http://127.0.0.1:${this.port}/hooks/${encodeURIComponent(hook)}`;
  }

  /** Answers the next `count` requests for `hook` with 500 (Infinity: until healed). */
  failNext(hook: string, count = Infinity): void {
    this.failures.set(hook, count);
  }

  /** Never answers the requests for `hook` (recorded with status 0) until healed: an attempt stays in flight. */
  hold(hook: string): void {
    this.held.add(hook);
  }

  heal(hook: string): void {
    this.failures.delete(hook);
    this.held.delete(hook);
  }

  requests(hook: string): ReceivedRequest[] {
    return this.received.filter((r) => r.hook === hook);
  }

  /** Every event received for `hook`, with the request that carried it (including failed ones unless `ok`). */
  events(hook: string, options: { ok?: boolean } = {}): ReceivedEvent[] {
    return this.requests(hook)
      .filter((r) => !options.ok || r.status === 200)
      .flatMap((request) => request.events.map((event) => ({ event, request })));
  }

  /** A short listing of what `hook` received, for failure messages. */
  describe(hook: string): string {
    const lines = this.requests(hook).map(
      (r) =>
        `#${r.seq} -> ${r.status} ${r.events
          .map((e) => `${e.action} ${e.target?.repository}${e.target?.tag ? `:${e.target.tag}` : ''} ${e.target?.mediaType ?? ''} ${e.id}`)
          .join(', ')}`,
    );
    return lines.length ? lines.join('\n') : '(nothing received)';
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

/** HMAC-SHA256 of the raw body with `secret`, as the signature header carries it. */
export function signatureOf(body: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Whether the request's signature header is the HMAC of its exact body under `secret` (constant time). */
export function verifySignature(request: ReceivedRequest, secret: string): boolean {
  const header = request.headers[SIGNATURE_HEADER];
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signatureOf(request.body, secret));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// ---------------------------------------------------------------------------
// the built registry as a child process

export interface RegistryProcessOptions {
  redisUrl?: string;
  env?: Record<string, string>;
}

/** The separate worker process (see RegistryProcess.startWorker). */
export interface WorkerProcess {
  readonly running: boolean;
  output(lines?: number): string;
  /** SIGTERM, SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** Retry delays the suite asks for: short, so retries and dead letters take seconds. */
export const FAST_RETRY_ENV = { WEBHOOK_RETRY_BASE_MS: '200' };

/**
 * `node dist/apps/registry/src/main.js` with its own Postgres database and data
 * directory, which survive kill() + start() (a crash and a restart).
 */
export class RegistryProcess {
  private child: Child | undefined;
  /** Output of instances that are gone, for failure messages. */
  private previousOutput = '';
  readonly admin: Credentials;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly database: TestDatabase,
    private readonly env: Record<string, string>,
  ) {
    this.admin = { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD };
  }

  get databaseUrl(): string {
    return this.database.url;
  }

  static async start(options: RegistryProcessOptions = {}): Promise<RegistryProcess> {
    if (!existsSync(REGISTRY_MAIN)) throw new Error(`${REGISTRY_MAIN} is missing: run npm run build (ensureBuilt())`);
    const database = await TestDatabase.create('berth_test');
    const dataDir = await mkdtemp(join(tmpdir(), 'berth-e2e-notify-'));
    const port = await freePort();
    const env: Record<string, string> = {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      STORAGE_DRIVER: 'filesystem',
      LOG_LEVEL: 'warn',
      AUTO_CREATE_NAMESPACES: 'true',
      ADMIN_USERNAME: 'admin',
      ADMIN_PASSWORD: `notify-${randomBytes(9).toString('base64url')}`,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      ...FAST_RETRY_ENV,
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      ...options.env,
    };
    const registry = new RegistryProcess(port, dataDir, database, env);
    try {
      await registry.start();
    } catch (err) {
      await registry.close().catch(() => undefined);
      throw err;
    }
    return registry;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && !this.child.hasExited;
  }

  get pid(): number | undefined {
    return this.child?.process.pid;
  }

  /** Whether the current instance died without being asked to. */
  get crashed(): boolean {
    return !!this.child && this.child.hasExited && !this.child.expectedExit;
  }

  /** Starts an instance (same port, database and data dir) and waits until GET /v2/ answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) throw new Error('the registry is already running');
    if (this.child) this.previousOutput += `${this.child.output(200)}\n--- restart ---\n`;
    const child = spawn(...tiedToThisProcess(process.execPath, [REGISTRY_MAIN]), {
      cwd: this.dataDir, // no stray .env is read from the repository
      env: { ...this.inheritedEnv(), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = new Child('registry', child);
    rememberCredentials(this.url, this.admin);
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.child.hasExited) {
        const { code, signal } = await this.child.exited;
        throw new Error(`the registry exited (code ${code}, signal ${signal}) at start:\n${this.child.output()}`);
      }
      try {
        const res = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status < 500) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`the registry did not answer GET /v2/ within ${timeoutMs / 1000}s (last: ${last}):\n${this.child.output()}`);
  }

  /**
   * The separate worker process (dist/apps/worker/src/main.js) on this registry's
   * database, Redis and data directory (where the key that opens webhook secrets lives).
   */
  startWorker(): WorkerProcess {
    if (!existsSync(WORKER_MAIN)) throw new Error(`${WORKER_MAIN} is missing: run npm run build`);
    const child = spawn(...tiedToThisProcess(process.execPath, [WORKER_MAIN]), {
      cwd: this.dataDir,
      env: { ...this.inheritedEnv(), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker = new Child('worker', child);
    return {
      get running() {
        return !worker.hasExited;
      },
      output: (lines = 40) => worker.output(lines),
      stop: () => worker.kill('SIGTERM', 10_000),
    };
  }

  /** Only what node needs from this process's environment: an inherited DATABASE_URL or REDIS_URL must never point it elsewhere. */
  private inheritedEnv(): Record<string, string> {
    return Object.fromEntries(['PATH', 'HOME', 'LANG', 'TZ'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
  }

  /** kill -9: no shutdown hook runs, whatever was in flight is lost. */
  async kill(): Promise<void> {
    await this.child?.kill('SIGKILL');
  }

  /** SIGTERM (the registry's shutdown hooks run), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    await this.child?.kill('SIGTERM', 10_000);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  output(lines = 60): string {
    const current = this.child?.output(lines) ?? '';
    return (this.previousOutput + current).trim().split('\n').slice(-lines).join('\n');
  }

  async close(): Promise<void> {
    await this.child?.kill('SIGKILL');
    await this.database.drop().catch(() => undefined);
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** Runs SQL on the registry's database (diagnostics only: tests assert through the API). */
  sql<T = any>(query: string, params: unknown[] = []): Promise<T[]> {
    return this.database.query<T>(query, params);
  }
}

// ---------------------------------------------------------------------------
// the admin API's webhook endpoints

export interface CreatedWebhook {
  id: string;
  /** Shown once, at creation. */
  secret: string;
  body: any;
}

/** A delivery as GET …/deliveries lists it (libs/notifications/src/webhooks/webhook-delivery.service.ts). */
export interface DeliverySummary {
  id: string;
  webhookId: string;
  eventId: string;
  action: string;
  repository: string | null;
  tag: string | null;
  digest: string | null;
  status: 'pending' | 'succeeded' | 'failed' | 'dead';
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** GET …/deliveries/{id}: the event as sent and every attempt. */
export interface DeliveryDetail extends Omit<DeliverySummary, 'attempts'> {
  event: RegistryEvent;
  attempts: { attempt: number; at: string; statusCode: number | null; durationMs: number; error: string | null; nextRetryAt: string | null }[];
}

function items(body: any): any[] {
  if (Array.isArray(body)) return body;
  if (Array.isArray(body?.items)) return body.items;
  throw new Error(`expected a list, got ${JSON.stringify(body)?.slice(0, 300)}`);
}

/** A subscription list: global (`/webhooks`, administrators) or one namespace's (owners). */
export class WebhookApi {
  readonly base: string;

  constructor(
    readonly api: Api,
    readonly namespace?: string,
  ) {
    this.base = namespace ? `/namespaces/${namespace}/webhooks` : '/webhooks';
  }

  static async login(url: string, credentials: Credentials, namespace?: string): Promise<WebhookApi> {
    return new WebhookApi(await Api.login(url, credentials), namespace);
  }

  private static check(answer: { status: number; text: string }, status: number, what: string): void {
    if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 500)}`);
  }

  async create(settings: Record<string, unknown>): Promise<CreatedWebhook> {
    const answer = await this.api.post(this.base, settings);
    WebhookApi.check(answer, 201, `POST ${this.base}`);
    const webhook = answer.body?.webhook ?? answer.body;
    const secret = answer.body?.secret ?? webhook?.secret;
    if (typeof webhook?.id !== 'string' || typeof secret !== 'string') {
      throw new Error(`POST ${this.base}: no id or secret in ${answer.text.slice(0, 500)}`);
    }
    return { id: webhook.id, secret, body: answer.body };
  }

  async remove(id: string): Promise<void> {
    const answer = await this.api.delete(`${this.base}/${id}`);
    if (answer.status !== 204 && answer.status !== 200 && answer.status !== 404) {
      throw new Error(`DELETE ${this.base}/${id}: ${answer.status} ${answer.text.slice(0, 300)}`);
    }
  }

  async deliveries(id: string, status?: string): Promise<DeliverySummary[]> {
    const path = `${this.base}/${id}/deliveries?perPage=100${status ? `&status=${status}` : ''}`;
    const answer = await this.api.get(path);
    WebhookApi.check(answer, 200, `GET ${path}`);
    return items(answer.body);
  }

  async delivery(id: string, deliveryId: string): Promise<DeliveryDetail> {
    const path = `${this.base}/${id}/deliveries/${deliveryId}`;
    const answer = await this.api.get(path);
    WebhookApi.check(answer, 200, `GET ${path}`);
    return answer.body;
  }

  async redeliver(id: string, deliveryId: string): Promise<{ status: number; body: any; text: string }> {
    return this.api.post(`${this.base}/${id}/deliveries/${deliveryId}/redeliver`);
  }

  async ping(id: string): Promise<{ status: number; body: any; text: string }> {
    return this.api.post(`${this.base}/${id}/ping`);
  }
}

// ---------------------------------------------------------------------------
// waiting

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Appended to the timeout error: what was seen instead. */
  detail?: () => string | Promise<string>;
}

/**
 * Polls `probe` until it returns a value other than undefined/false/null and returns
 * it; throws after `timeoutMs` with `what` and the detail.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 100 } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  const detail = options.detail ? await Promise.resolve(options.detail()).catch((e) => `(detail failed: ${e})`) : '';
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}` +
      (lastError ? `\nlast error: ${(lastError as Error).message ?? lastError}` : '') +
      (detail ? `\n${detail}` : ''),
  );
}

export { Api } from '../admin/support.js';
