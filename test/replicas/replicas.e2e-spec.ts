/**
 * Scale-out: two registry replicas and webhook/GC workers, each its own process with
 * its own DATA_DIR (no shared disk), over one PostgreSQL database, one S3-compatible
 * store (s3rver) and one Redis. The replicas share only configuration: the token
 * signing key and the secrets key. Requests of one client alternate between the
 * replicas as a load balancer would send them.
 *
 * Postgres and redis-server are needed (skopeo and podman for the client step): missing
 * ones skip locally and fail under CI=true.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, redisServerAvailable } from '../../libs/notifications/src/testing/redis-server.js';
import { WebhookSubscriber } from '../../libs/notifications/src/testing/webhook-subscriber.js';
import { S3TestServer } from '../../libs/storage/src/s3/testing/s3-test-server.js';
import { createPodmanStore, explain, hasCommand, run, writeContainersConfig, type CommandResult } from '../clients/tools.js';
import { MediaTypes, RegistryClient, type Res, buildImage, randomBlob, sha256, withQuery } from '../support/http.js';
import { buildOciLayout, type BuiltImage } from '../support/images.js';
import { TestDatabase, postgresAvailable } from '../support/database.js';
import { basicAuth } from '../support/registry.js';
import { SourceProcess, freePort } from './source-process.js';

const available = (await postgresAvailable()) && (await redisServerAvailable());
if (!available) console.warn('[replicas] SKIPPED: needs Postgres at TEST_DATABASE_URL and redis-server');

function clientsMissing(): string | undefined {
  const missing = ['skopeo', 'podman'].filter((command) => !hasCommand(command));
  if (!missing.length) return undefined;
  const problem = `${missing.join(', ')} not found on PATH`;
  if (process.env.CI === 'true') throw new Error(`replicas suite: ${problem}; under CI=true this is a failure, never a skip`);
  console.warn(`[replicas] client step SKIPPED: ${problem}`);
  return problem;
}
const noClients = Boolean(clientsMissing());

const ADMIN = { username: 'admin', password: `admin-${randomBytes(6).toString('hex')}` };
const octet = { 'Content-Type': 'application/octet-stream' };

interface Event {
  id: string;
  action: string;
  target: { repository: string; digest?: string; tag?: string; mediaType?: string };
  request: { addr: string };
}

describe.skipIf(!available)('two registry replicas and workers over shared Postgres, S3 and Redis', () => {
  let database: TestDatabase;
  const processes: SourceProcess[] = [];
  const dataDirs: string[] = [];
  let redis: RedisServer;
  let s3: S3TestServer;
  let subscriber: WebhookSubscriber;
  let shared: Record<string, string>;
  let a: RegistryClient;
  let b: RegistryClient;
  let hostA: string;
  let hostB: string;

  /** Each process gets a DATA_DIR of its own: nothing may depend on a shared disk. */
  async function ownEnv(): Promise<Record<string, string>> {
    const dir = await mkdtemp(join(tmpdir(), 'berth-replica-'));
    dataDirs.push(dir);
    return { ...shared, DATA_DIR: dir };
  }

  async function startRegistry(label: string): Promise<{ client: RegistryClient; host: string }> {
    const port = await freePort();
    processes.push(await SourceProcess.registry(label, port, await ownEnv()));
    return { client: new RegistryClient(`http://127.0.0.1:${port}`, ADMIN), host: `127.0.0.1:${port}` };
  }

  async function startWorker(label: string): Promise<void> {
    processes.push(await SourceProcess.worker(label, await ownEnv()));
  }

  function logs(): string {
    return processes.map((p) => `--- ${p.label}\n${p.output(15)}`).join('\n');
  }

  /** A registry token for `scope`, issued by the replica `client` talks to. */
  async function tokenFrom(client: RegistryClient, scope: string): Promise<string> {
    const res = await fetch(client.resolve(`/auth/token?service=berth-registry&scope=${encodeURIComponent(scope)}`), {
      headers: { authorization: basicAuth(ADMIN) },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  function events(): Event[] {
    return subscriber.events() as Event[];
  }

  async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs()}`);
      await sleep(200);
    }
  }

  /** No event id and no delivery id arrived twice. */
  function expectEachOnce(): void {
    const ids = events().map((e) => e.id);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    const deliveries = subscriber.received.map((r) => String(r.headers['x-berth-delivery']));
    expect(deliveries.filter((id, i) => deliveries.indexOf(id) !== i)).toEqual([]);
  }

  beforeAll(async () => {
    database = await TestDatabase.create('berth_test');
    [redis, s3, subscriber] = await Promise.all([RedisServer.start(), S3TestServer.start(), WebhookSubscriber.start()]);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    shared = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      ...s3.env('replicas'),
      // Presigned URLs name the store as localhost: clients drop registry credentials on the way there.
      S3_PUBLIC_ENDPOINT: s3.endpoint.replace('127.0.0.1', 'localhost'),
      TOKEN_SIGNING_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      SECRETS_KEY: randomBytes(32).toString('base64'),
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      RUN_WORKERS: 'false',
      // As behind the reference proxy: the client address is the last X-Forwarded-For entry.
      TRUST_PROXY: '1',
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      // Every other second, so the test sees scheduled runs from two workers.
      GC_SCHEDULE: '*/2 * * * * *',
      LOG_LEVEL: 'warn',
      AUTO_CREATE_NAMESPACES: 'true',
    };
    // Started together: migrations run once under their advisory lock, the administrator is created once.
    [{ client: a, host: hostA }, { client: b, host: hostB }] = await Promise.all([startRegistry('replica A'), startRegistry('replica B'), startWorker('worker 1')]);
    const login = await (
      await fetch(a.resolve('/api/v1/auth/login'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) })
    ).json();
    const created = await fetch(b.resolve('/api/v1/webhooks'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${(login as { token: string }).token}` },
      body: JSON.stringify({ name: 'everything', url: subscriber.url }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all([redis?.stop(), s3?.stop(), subscriber?.close()]);
    await database?.drop();
    await Promise.all(dataDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("a chunked upload alternating between the replicas completes, each accepting the other's tokens", async () => {
    const repo = 'team/alternating';
    const tokenA = { token: await tokenFrom(a, `repository:${repo}:pull,push`) };
    const tokenB = { token: await tokenFrom(b, `repository:${repo}:pull,push`) };
    const data = randomBlob(3 * 1024 * 1024 + 4321);
    const digest = sha256(data);
    const cut = [0, 1024 * 1024, 2 * 1024 * 1024 + 17, data.length];
    const on = (client: RegistryClient, location: string) => client.resolve(new URL(location).pathname + new URL(location).search);

    const started = await a.post(`/v2/${repo}/blobs/uploads/`, { auth: tokenB });
    expect(started.status).toBe(202);
    let location = started.location!;
    const chunk = (i: number) => ({
      headers: { ...octet, 'Content-Range': `${cut[i]}-${cut[i + 1] - 1}` },
      body: data.subarray(cut[i], cut[i + 1]),
    });
    const first = await b.patch(on(b, location), { ...chunk(0), auth: tokenA });
    expect(first.status, first.text).toBe(202);
    expect(first.headers.get('range')).toBe(`0-${cut[1] - 1}`);
    const second = await a.patch(on(a, first.location!), { ...chunk(1), auth: tokenB });
    expect(second.status, second.text).toBe(202);
    expect(second.headers.get('range')).toBe(`0-${cut[2] - 1}`);
    location = second.location!;
    const last = chunk(2);
    const done = await b.put(withQuery(on(b, location), { digest }), { ...last, headers: { ...last.headers, 'X-Forwarded-For': '203.0.113.5' }, auth: tokenA });
    expect(done.status, done.text).toBe(201);
    expect(done.headers.get('docker-content-digest')).toBe(digest);

    for (const client of [a, b]) {
      expect((await client.head(`/v2/${repo}/blobs/${digest}`)).headers.get('content-length')).toBe(String(data.length));
      const res = await fetch(client.resolve(`/v2/${repo}/blobs/${digest}`), { headers: { authorization: basicAuth(ADMIN) } });
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
    }
  });

  it('a chunk sent to one replica while the other is writing the session answers 416; the session stays whole', async () => {
    const repo = 'team/concurrent';
    const data = randomBlob(2 * 1024 * 1024);
    const digest = sha256(data);
    const location = await a.startUpload(repo);
    const path = new URL(location).pathname;

    // A PATCH on A whose body is held half-way: A has claimed the session.
    const slow = http.request(a.resolve(path), {
      method: 'PATCH',
      headers: { ...octet, 'Content-Range': `0-${data.length - 1}`, 'Content-Length': String(data.length), Authorization: basicAuth(ADMIN) },
    });
    const slowDone = new Promise<http.IncomingMessage>((resolve, reject) => {
      slow.on('response', (res) => res.resume().on('end', () => resolve(res)));
      slow.on('error', reject);
    });
    slow.write(data.subarray(0, data.length / 2));
    await sleep(500);

    const other = randomBlob(data.length);
    const meanwhile = await b.patch(b.resolve(path), { headers: { ...octet, 'Content-Range': `0-${other.length - 1}` }, body: other });
    expect(meanwhile.status, meanwhile.text).toBe(416);
    expect(meanwhile.json().errors[0].code).toBe('RANGE_INVALID');
    expect(meanwhile.headers.get('range')).toBe('0-0');
    const finishing = await b.put(withQuery(b.resolve(path), { digest }));
    expect(finishing.status).toBe(416);

    slow.end(data.subarray(data.length / 2));
    expect((await slowDone).statusCode).toBe(202);
    const done = await b.put(withQuery(b.resolve(path), { digest }));
    expect(done.status, done.text).toBe(201);
    const res = await fetch(b.resolve(`/v2/${repo}/blobs/${digest}`), { headers: { authorization: basicAuth(ADMIN) } });
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(digest);
  });

  it('a tag moved through one replica is served moved by the other at once', async () => {
    const repo = 'team/moving';
    const manifestOf = async (client: RegistryClient): Promise<Res> => client.get(`/v2/${repo}/manifests/latest`, { headers: { Accept: MediaTypes.ociManifest } });
    for (let round = 0; round < 5; round++) {
      const image = await a.pushImage(repo, 'latest', buildImage({ layers: 1 }));
      const seen = await manifestOf(b);
      expect(seen.status).toBe(200);
      expect(seen.headers.get('docker-content-digest')).toBe(image.digest);
      // And the other way round.
      const back = await b.pushImage(repo, 'latest', buildImage({ layers: 1 }));
      expect((await manifestOf(a)).headers.get('docker-content-digest')).toBe(back.digest);
    }
  });

  describe.skipIf(noClients)('real clients', () => {
    let work: string;
    let layout: string;
    let image: BuiltImage;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'berth-replicas-clients-'));
      layout = join(work, 'layout');
      image = await buildOciLayout(layout, { layers: 2, tag: 'v1' });
    });
    afterAll(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    const expectOk = (result: CommandResult) => expect(result.code, explain(result)).toBe(0);
    const creds = `${ADMIN.username}:${ADMIN.password}`;

    it('skopeo pushes through replica A; podman pulls through replica B and verifies every layer', { timeout: 180_000 }, async () => {
      const toA = await writeContainersConfig(join(work, 'containers-a'), hostA);
      expectOk(
        await run(
          'skopeo',
          ['--policy', toA.policyPath, 'copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout}:v1`, `docker://${hostA}/team/app:v1`],
          { env: toA.env, timeoutMs: 120_000 },
        ),
      );
      const fromB = await writeContainersConfig(join(work, 'containers-b'), hostB);
      const store = await createPodmanStore();
      try {
        const podman = (args: string[]) => run('podman', [...store.flags, ...args], { env: { ...fromB.env, ...store.env }, timeoutMs: 120_000 });
        expectOk(await podman(['pull', '--tls-verify=false', '--signature-policy', fromB.policyPath, '--creds', creds, `${hostB}/team/app:v1`]));
        const inspected = await podman(['image', 'inspect', `${hostB}/team/app:v1`]);
        expectOk(inspected);
        const [pulled] = JSON.parse(inspected.stdout) as Array<{ Digest: string; RootFS: { Layers: string[] } }>;
        expect(pulled.Digest).toBe(image.manifestDigest);
        expect(pulled.RootFS.Layers).toEqual(image.diffIds);
      } finally {
        await store.remove();
      }
      const pushed = await waitFor('the push event of team/app:v1', () =>
        events().find((e) => e.action === 'push' && e.target.repository === 'team/app' && e.target.tag === 'v1'),
      );
      expect(pushed.target.digest).toBe(image.manifestDigest);
      await waitFor('the pull event of team/app:v1', () =>
        events().find((e) => e.action === 'pull' && e.target.repository === 'team/app' && e.target.digest === image.manifestDigest),
      );
    });
  });

  it('every event reaches the subscriber once, with one worker and then with two', { timeout: 120_000 }, async () => {
    const pushedSoFar = (repo: string) => events().filter((e) => e.action === 'push' && e.target.repository === repo);
    // The blob of the alternating upload and the images of the moving tag (5 + 5 manifests, 20 blobs).
    await waitFor('the events of the earlier pushes', () => pushedSoFar('team/alternating').length >= 1 && pushedSoFar('team/moving').length >= 30);
    // The alternating upload's completion came "through a proxy" for 203.0.113.5.
    expect(pushedSoFar('team/alternating')[0].request.addr).toBe('203.0.113.5');
    expectEachOnce();

    await startWorker('worker 2');
    const images = [];
    for (let i = 0; i < 6; i++) {
      const client = i % 2 ? a : b;
      images.push(await client.pushImage('team/two-workers', `t${i}`, buildImage({ layers: 2 })));
      expect((await (i % 2 ? b : a).get(`/v2/team/two-workers/manifests/t${i}`, { headers: { Accept: MediaTypes.ociManifest } })).status).toBe(200);
    }
    await waitFor('the events of the pushes and pulls with two workers', () => {
      const seen = events().filter((e) => e.target.repository === 'team/two-workers');
      return seen.filter((e) => e.action === 'push').length >= 6 * 4 && seen.filter((e) => e.action === 'pull').length >= 6;
    });
    // Give a duplicate, if any, time to arrive.
    await sleep(2000);
    expectEachOnce();
    const tagged = events().filter((e) => e.action === 'push' && e.target.repository === 'team/two-workers' && e.target.tag);
    expect(tagged.map((e) => e.target.digest).sort()).toEqual(images.map((i) => i.digest).sort());
  });

  it('scheduled garbage collection runs once per occurrence, in one worker at a time', async () => {
    const rows = await database.query<{ started_at: Date; finished_at: Date | null }>(
      `SELECT started_at, finished_at FROM gc_runs WHERE trigger = 'schedule' ORDER BY started_at`,
    );
    expect(rows.length, logs()).toBeGreaterThan(2);
    // GC_SCHEDULE fires every other second: one run per slot, whichever worker took it…
    const slots = rows.map((r) => Math.floor(r.started_at.getTime() / 2000));
    expect(new Set(slots).size).toBe(slots.length);
    // …and each ended before the next began.
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1].finished_at!.getTime()).toBeLessThanOrEqual(rows[i].started_at.getTime());
  });
});
