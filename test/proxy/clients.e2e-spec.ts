/**
 * Real clients pulling through Berth's pull-through cache: skopeo, podman and containerd's
 * ctr against proxy namespaces over Debian's docker-registry (CNCF Distribution 2.8) as
 * the upstream, on real Postgres. Images are built on disk (test/support/images.ts) and
 * pushed to the upstream with skopeo: nothing comes from the internet.
 *
 * One Berth, one plain upstream, one htpasswd upstream and one containerd are shared by
 * the whole file; the tests run in order (the ctr test stops the plain upstream for a
 * while, and starts it again).
 *
 * Missing tools or Postgres skip the suite locally, but fail under CI=true, as in
 * test/clients/real-clients.e2e-spec.ts.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildOciLayout, MEDIA_TYPES, readLayoutBlob, readLayoutIndex, sha256, type BuiltImage } from '../support/images.js';
import { basicAuth, postgresAvailable, type InProcessRegistry } from '../support/registry.js';
import { DISTRIBUTION_BIN, distributionAvailable, startUpstreamRegistry, type UpstreamRegistry } from '../support/upstream-registry.js';
import {
  createPodmanStore,
  explain,
  hasCommand,
  run,
  startContainerd,
  writeContainersConfig,
  type CommandResult,
  type Containerd,
  type ContainersEnv,
  type PodmanStore,
  type RunOptions,
} from '../clients/tools.js';
import { adminCall, createProxyNamespace, startCachingRegistry } from './support.js';

const CI = process.env.CI === 'true';
const STEP_TIMEOUT = 120_000;

/** Returns the skip reason for a missing prerequisite, or throws under CI. */
function requireOrSkip(problem: string | undefined): string | undefined {
  if (problem && CI) {
    throw new Error(`pull-through client suite: ${problem}; under CI=true this is a failure, never a skip`);
  }
  return problem;
}

function missingTools(commands: string[], binaries: [string, boolean][] = []): string | undefined {
  const missing = [...commands.filter((c) => !hasCommand(c)), ...binaries.filter(([, present]) => !present).map(([path]) => path)];
  return missing.length ? `${missing.join(', ')} not found` : undefined;
}

async function postgresProblem(): Promise<string | undefined> {
  try {
    return (await postgresAvailable()) ? undefined : 'Postgres not reachable at TEST_DATABASE_URL';
  } catch (err) {
    return `Postgres not reachable at TEST_DATABASE_URL (${err instanceof Error ? err.message : String(err)})`;
  }
}

const suiteSkip = requireOrSkip(missingTools(['skopeo', 'podman'], [[DISTRIBUTION_BIN, distributionAvailable]]) ?? (await postgresProblem()));
const containerdSkip = requireOrSkip(missingTools(['containerd', 'ctr']));
for (const reason of [suiteSkip, containerdSkip]) {
  if (reason) console.warn(`[proxy clients] skipping part of the suite: ${reason}`);
}

function expectOk(result: CommandResult): void {
  expect(result.code, explain(result)).toBe(0);
}

const UPSTREAM_USER = { username: 'upstream-robot', password: 'upstream-Pa55word' };

/** Sum of one Prometheus counter over the series whose labels include `labels`. */
function counterSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const series = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k, v]));
    if (Object.entries(labels).every(([k, v]) => series[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

describe('real clients pulling through Berth', () => {
  if (suiteSkip) {
    it.skip(`skipped: ${suiteSkip}`, () => undefined);
    return;
  }

  let registry: InProcessRegistry;
  let upstream: UpstreamRegistry;
  let locked: UpstreamRegistry;
  let work: string;
  let containers: ContainersEnv;
  let layout: string;
  /** library/app:1 upstream: what skopeo and podman pull. */
  let app: BuiltImage;
  /** team/private:1 on the htpasswd upstream. */
  let secret: BuiltImage;
  let counter = 0;

  const scratch = (label: string) => join(work, `${label}-${++counter}`);
  const adminCreds = () => `${registry.admin.username}:${registry.admin.password}`;

  const skopeo = (args: string[], options: RunOptions = {}) =>
    run('skopeo', ['--policy', containers.policyPath, ...args], { ...options, env: { ...containers.env, ...options.env } });

  /** skopeo copy between any two transports (plain HTTP on either side); returns the digest skopeo reports. */
  async function copy(source: string, destination: string, extra: string[] = []): Promise<{ result: CommandResult; digest?: string }> {
    const digestFile = scratch('digest');
    const result = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--digestfile', digestFile, ...extra, source, destination]);
    if (result.code !== 0) return { result };
    return { result, digest: (await readFile(digestFile, 'utf8')).trim() };
  }

  async function mustCopy(source: string, destination: string, extra: string[] = []): Promise<string> {
    const { result, digest } = await copy(source, destination, extra);
    expectOk(result);
    return digest!;
  }

  /** Checks that an OCI layout pulled through Berth holds exactly `image`: manifest bytes, config and layer bytes. */
  async function expectPulled(dir: string, image: BuiltImage, sourceLayout: string): Promise<void> {
    const [entry] = await readLayoutIndex(dir);
    expect(entry.digest).toBe(image.manifestDigest);
    const manifestBytes = await readLayoutBlob(dir, entry.digest);
    expect(manifestBytes.equals(image.manifestBytes), 'manifest bytes served verbatim through the cache').toBe(true);
    for (const descriptor of [image.config, ...image.layers]) {
      const pulled = await readLayoutBlob(dir, descriptor.digest);
      const original = await readLayoutBlob(sourceLayout, descriptor.digest);
      expect(pulled.equals(original), `blob ${descriptor.digest} identical to the one pushed upstream`).toBe(true);
    }
    expect(gunzipSync(await readLayoutBlob(dir, image.layers[0].digest)).toString('utf8')).toContain(image.helloContent);
  }

  async function tagsOf(repository: string): Promise<{ status: number; tags: string[] }> {
    const res = await fetch(`${registry.url}/v2/${repository}/tags/list`, { headers: { authorization: basicAuth(registry.admin) } });
    const body = (await res.json()) as { tags?: string[] | null };
    return { status: res.status, tags: body.tags ?? [] };
  }

  async function metrics(): Promise<string> {
    const res = await fetch(`${registry.url}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-proxy-clients-'));
    [registry, upstream, locked] = await Promise.all([
      // Names in no namespace are served from `hub` (dockerd's registry-mirrors).
      startCachingRegistry({ MIRROR_DEFAULT_NAMESPACE: 'hub' }),
      startUpstreamRegistry(),
      startUpstreamRegistry({ htpasswd: UPSTREAM_USER }),
    ]);
    containers = await writeContainersConfig(join(work, 'containers'), registry.host);
    layout = join(work, 'layout');
    app = await buildOciLayout(layout, { layers: 2, tag: 'app' });
    secret = await buildOciLayout(layout, { layers: 1, tag: 'secret' });

    const pushed = await Promise.all([
      mustCopy(`oci:${layout}:app`, `docker://${upstream.host}/library/app:1`),
      mustCopy(`oci:${layout}:secret`, `docker://${locked.host}/team/private:1`, ['--dest-creds', `${UPSTREAM_USER.username}:${UPSTREAM_USER.password}`]),
    ]);
    expect(pushed).toEqual([app.manifestDigest, secret.manifestDigest]);

    await createProxyNamespace(registry, 'hub', { url: upstream.url });
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await Promise.all([registry?.close(), upstream?.close(), locked?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('skopeo', () => {
    it('pulls hub/library/app:1 as the administrator and anonymously, bytes identical to upstream', { timeout: STEP_TIMEOUT }, async () => {
      const asAdmin = scratch('pulled-admin');
      expect(await mustCopy(`docker://${registry.host}/hub/library/app:1`, `oci:${asAdmin}:1`, ['--src-creds', adminCreds()])).toBe(app.manifestDigest);
      await expectPulled(asAdmin, app, layout);

      // The namespace is public: the anonymous token flow (401, /auth/token without credentials, Bearer).
      const anonymous = scratch('pulled-anonymous');
      expect(await mustCopy(`docker://${registry.host}/hub/library/app:1`, `oci:${anonymous}:1`, ['--src-no-creds'])).toBe(app.manifestDigest);
      await expectPulled(anonymous, app, layout);

      // By digest too (immutable: served from the cache).
      const byDigest = scratch('pulled-digest');
      await mustCopy(`docker://${registry.host}/hub/library/app@${app.manifestDigest}`, `oci:${byDigest}:1`, ['--src-no-creds']);
      await expectPulled(byDigest, app, layout);
    });

    it('inspects the tag through Berth', { timeout: STEP_TIMEOUT }, async () => {
      const inspected = await skopeo(['inspect', '--tls-verify=false', '--creds', adminCreds(), `docker://${registry.host}/hub/library/app:1`]);
      expectOk(inspected);
      const info = JSON.parse(inspected.stdout) as { Digest: string; Layers: string[]; Os: string; Architecture: string };
      expect(info.Digest).toBe(app.manifestDigest);
      expect(info.Layers).toEqual(app.layers.map((l) => l.digest));
      expect([info.Os, info.Architecture]).toEqual(['linux', 'amd64']);

      const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${registry.host}/hub/library/app:1`]);
      expectOk(raw);
      expect(sha256(raw.stdoutBytes)).toBe(app.manifestDigest);

      expect((await tagsOf('hub/library/app')).tags).toContain('1');
    });

    it('pulls library/app:1 with no namespace from MIRROR_DEFAULT_NAMESPACE (dockerd-style mirror)', { timeout: STEP_TIMEOUT }, async () => {
      const pulled = scratch('pulled-default');
      expect(await mustCopy(`docker://${registry.host}/library/app:1`, `oci:${pulled}:1`, ['--src-no-creds'])).toBe(app.manifestDigest);
      await expectPulled(pulled, app, layout);
    });

    it('refuses a push into the proxy namespace', { timeout: STEP_TIMEOUT }, async () => {
      const { result } = await copy(`oci:${layout}:app`, `docker://${registry.host}/hub/library/pushed:1`, ['--dest-creds', adminCreds()]);
      expect(result.code, explain(result)).not.toBe(0);
      expect(result.stderr).toMatch(/unsupported|405|not allowed|denied/i);
      // Nothing of it appeared in Berth.
      expect((await tagsOf('hub/library/pushed')).tags).not.toContain('1');
    });
  });

  describe('podman', () => {
    let store: PodmanStore;
    beforeAll(async () => {
      store = await createPodmanStore();
    });
    afterAll(async () => {
      await store?.remove();
    });

    const podman = (args: string[]) => run('podman', [...store.flags, ...args], { env: { ...containers.env, ...store.env }, timeoutMs: 90_000 });

    it('pulls hub/library/app:1 into its own vfs store', { timeout: STEP_TIMEOUT }, async () => {
      const reference = `${registry.host}/hub/library/app:1`;
      expectOk(await podman(['pull', '--tls-verify=false', '--signature-policy', containers.policyPath, reference]));
      const inspected = await podman(['image', 'inspect', reference]);
      expectOk(inspected);
      const [image] = JSON.parse(inspected.stdout) as { Id: string; Digest: string; RepoDigests: string[]; RootFS: { Layers: string[] } }[];
      expect(image.Digest).toBe(app.manifestDigest);
      expect(image.RepoDigests).toContain(`${registry.host}/hub/library/app@${app.manifestDigest}`);
      // podman checks every layer against the config's diff_ids while storing it.
      expect(image.RootFS.Layers).toEqual(app.diffIds);
      expect(`sha256:${image.Id}`).toBe(app.config.digest);
    });
  });

  describe('containerd ctr, Berth as a hosts.toml mirror (?ns=)', () => {
    if (containerdSkip) {
      it.skip(`skipped: ${containerdSkip}`, () => undefined);
      return;
    }

    let containerd: Containerd;
    let hostsDir: string;

    beforeAll(async () => {
      containerd = await startContainerd(scratch('containerd'));
      hostsDir = join(work, 'certs.d');
      // containerd asks the mirror first (with ?ns=<upstream host>), then the server itself.
      await mkdir(join(hostsDir, upstream.host), { recursive: true });
      await writeFile(
        join(hostsDir, upstream.host, 'hosts.toml'),
        [`server = "${upstream.url}"`, '', `[host."http://${registry.host}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
      );
    });

    afterAll(async () => {
      await containerd?.stop();
    });

    const pull = (reference: string) => containerd.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', reference]);

    async function listedDigest(reference: string): Promise<string | undefined> {
      const result = await containerd.ctr(['images', 'ls']);
      expectOk(result);
      return result.stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .find((cols) => cols[0] === reference)?.[2];
    }

    it('pulls the upstream name through Berth, which caches it in hub, and again from the cache with the upstream down', { timeout: STEP_TIMEOUT }, async () => {
      // A fresh image under a fresh tag (a retry under CI gets its own), pushed only upstream:
      // no other client asks for it, so only ctr's mirror requests can bring it into hub.
      const tag = `ctr-${++counter}`;
      const ctrImage = await buildOciLayout(layout, { layers: 2, tag });
      expect(await mustCopy(`oci:${layout}:${tag}`, `docker://${upstream.host}/library/app:${tag}`)).toBe(ctrImage.manifestDigest);
      const reference = `${upstream.host}/library/app:${tag}`;
      const manifestServed = (text: string) => counterSum(text, 'berth_proxy_requests_total', { namespace: 'hub', kind: 'manifest' });
      const blobsFetched = (text: string) => counterSum(text, 'berth_proxy_requests_total', { namespace: 'hub', kind: 'blob', result: 'miss' });

      expect((await tagsOf('hub/library/app')).tags).not.toContain(tag);
      const before = await metrics();

      expectOk(await pull(reference));
      expect(await listedDigest(reference)).toBe(ctrImage.manifestDigest);

      const after = await metrics();
      expect(manifestServed(after)).toBeGreaterThan(manifestServed(before));
      // Both layers and the config came from upstream through Berth.
      expect(blobsFetched(after) - blobsFetched(before)).toBeGreaterThanOrEqual(ctrImage.layers.length + 1);
      expect((await tagsOf('hub/library/app')).tags).toContain(tag);

      // With the upstream gone, only Berth can answer (the mirror is tried first, the server
      // would fail): forget the image and its content, pull again. The tag is within its TTL,
      // so Berth answers from its cache without asking upstream.
      expectOk(await containerd.ctr(['images', 'rm', '--sync', reference]));
      const leftover = await containerd.ctr(['content', 'ls', '-q']);
      expectOk(leftover);
      const digests = [ctrImage.manifestDigest, ctrImage.config.digest, ...ctrImage.layers.map((l) => l.digest)];
      const stillThere = digests.filter((d) => leftover.stdout.includes(d));
      if (stillThere.length) expectOk(await containerd.ctr(['content', 'rm', ...stillThere]));

      await upstream.stop();
      try {
        const fromCache = await pull(reference);
        expectOk(fromCache);
        expect(await listedDigest(reference)).toBe(ctrImage.manifestDigest);
        const cached = await metrics();
        expect(manifestServed(cached)).toBeGreaterThan(manifestServed(after));
        const hits = counterSum(cached, 'berth_proxy_requests_total', { namespace: 'hub', kind: 'blob', result: 'hit' });
        expect(hits - counterSum(after, 'berth_proxy_requests_total', { namespace: 'hub', kind: 'blob', result: 'hit' })).toBeGreaterThanOrEqual(ctrImage.layers.length + 1);
      } finally {
        await upstream.start();
      }
    });
  });

  describe('an upstream behind htpasswd', () => {
    beforeAll(async () => {
      await createProxyNamespace(registry, 'locked', { url: locked.url, ...UPSTREAM_USER });
      await createProxyNamespace(registry, 'locked-bad', { url: locked.url, username: UPSTREAM_USER.username, password: 'not-the-password' });
    });

    it('pulls with the namespace\'s upstream credentials', { timeout: STEP_TIMEOUT }, async () => {
      const pulled = scratch('pulled-locked');
      expect(await mustCopy(`docker://${registry.host}/locked/team/private:1`, `oci:${pulled}:1`, ['--src-creds', adminCreds()])).toBe(secret.manifestDigest);
      await expectPulled(pulled, secret, layout);
      // Anonymously too: the upstream's credentials are Berth's, not the client's.
      const anonymous = scratch('pulled-locked-anonymous');
      expect(await mustCopy(`docker://${registry.host}/locked/team/private:1`, `oci:${anonymous}:1`, ['--src-no-creds'])).toBe(secret.manifestDigest);
    });

    it('fails the pull with a wrong upstream password, with an error that is not a 500', { timeout: STEP_TIMEOUT }, async () => {
      const { result } = await copy(`docker://${registry.host}/locked-bad/team/private:1`, `oci:${scratch('pulled-bad')}:1`, ['--src-creds', adminCreds()]);
      expect(result.code, `the pull must fail\n${explain(result)}`).not.toBe(0);
      expect(result.stderr).not.toMatch(/\b500\b|internal server error/i);

      for (const [method, reference] of [
        ['GET', '1'],
        ['HEAD', '1'],
        ['GET', secret.manifestDigest],
      ] as const) {
        const res = await fetch(`${registry.url}/v2/locked-bad/team/private/manifests/${reference}`, {
          method,
          headers: { authorization: basicAuth(registry.admin), accept: [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest].join(', ') },
        });
        const text = await res.text();
        // Today: 404 MANIFEST_UNKNOWN saying the upstream refused access (401). What must
        // hold is a client error (or 503), never a 500, and a message naming the cause.
        expect(res.status, `${method} manifests/${reference}: ${text}`).not.toBe(500);
        expect(res.status >= 400 && (res.status < 500 || res.status === 503), `${method} manifests/${reference}: ${res.status} ${text}`).toBe(true);
        if (method === 'GET') {
          const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
          expect(body.errors[0].code, text).toMatch(/^[A-Z_]+$/);
          expect(body.errors[0].message, text).toMatch(/refused|credentials|401/i);
        }
      }
      // Nothing was cached from the refusal.
      expect((await tagsOf('locked-bad/team/private')).tags).toEqual([]);
      // The right credentials' namespace is unaffected.
      expect((await adminCall(registry, 'GET', '/namespaces/locked')).status).toBe(200);
    });
  });
});
