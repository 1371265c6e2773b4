/**
 * Real clients against Berth's token authentication: podman login + push/pull as
 * a user (developer in an organisation) and as a robot (`<ns>+<name>` with its
 * secret), skopeo with --dest-creds / --src-creds for both, and anonymous pulls
 * (no credentials at all) that work from a public namespace and are refused from
 * a private one.
 *
 * Berth only (it needs the admin API to set up accounts): skipped against
 * E2E_REGISTRY_URL. Missing skopeo/podman or Postgres skip locally and fail
 * under CI=true, like the main real-client suite.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciLayout, readLayoutIndex, sha256, type BuiltImage } from '../support/images.js';
import { postgresAvailable, startRegistry, type Credentials, type TestRegistry } from '../support/registry.js';
import { AdminApi, accountName, password } from '../auth/support.js';
import {
  createPodmanStore,
  explain,
  hasCommand,
  run,
  writeContainersConfig,
  type CommandResult,
  type ContainersEnv,
  type PodmanStore,
  type RunOptions,
} from './tools.js';

const CI = process.env.CI === 'true';
const EXTERNAL = Boolean(process.env.E2E_REGISTRY_URL);
const STEP_TIMEOUT = 120_000;

function requireOrSkip(problem: string | undefined): string | undefined {
  if (problem && CI) throw new Error(`real-client auth suite: ${problem}; under CI=true this is a failure, never a skip`);
  return problem;
}

async function prerequisites(): Promise<string | undefined> {
  // Against an external registry there is no admin API to create accounts with.
  if (EXTERNAL) return 'Berth only (E2E_REGISTRY_URL is set)';
  const missing = ['skopeo', 'podman'].filter((c) => !hasCommand(c));
  if (missing.length) return requireOrSkip(`${missing.join(', ')} not found on PATH`);
  try {
    if (!(await postgresAvailable())) return requireOrSkip('Postgres not reachable at TEST_DATABASE_URL');
  } catch (err) {
    return requireOrSkip(`Postgres not reachable at TEST_DATABASE_URL (${err instanceof Error ? err.message : String(err)})`);
  }
  return undefined;
}

const skip = await prerequisites();
if (skip) console.warn(`[real-clients auth] skipping: ${skip}`);

function expectOk(result: CommandResult): void {
  expect(result.code, explain(result)).toBe(0);
}

/** A client refused: non-zero exit, and stderr says why in registry terms (never a crash or a hang). */
function expectRefused(result: CommandResult, pattern = /unauthorized|authentication required|denied|insufficient_scope|401|403/i): void {
  expect(result.code, `expected a refusal\n${explain(result)}`).not.toBe(0);
  expect(result.timedOut, explain(result)).toBe(false);
  expect(result.stderr, explain(result)).toMatch(pattern);
}

describe.skipIf(Boolean(skip))('real clients with authentication', () => {
  let registry: TestRegistry;
  let work: string;
  let containers: ContainersEnv;
  let layout: string;
  let image: BuiltImage;
  const org = accountName('team');
  const open = accountName('open');
  let developer: Credentials;
  let outsider: Credentials;
  /** team+ci: pull and push on every repository of the organisation. */
  let pusher: Credentials;
  /** team+puller: pull only. */
  let puller: Credentials;
  const stores: PodmanStore[] = [];
  let counter = 0;
  const scratch = (label: string) => join(work, `${label}-${++counter}`);
  const ref = (repo: string) => `${registry.host}/${repo}`;
  const userPass = (c: Credentials) => `${c.username}:${c.password}`;

  const skopeo = (args: string[], options: RunOptions = {}) =>
    run('skopeo', ['--policy', containers.policyPath, ...args], { ...options, env: { ...containers.env, ...options.env } });

  /** skopeo copy with explicit flags; returns the result and the digest file's path. */
  async function copy(source: string, destination: string, flags: string[]): Promise<{ result: CommandResult; digest: () => Promise<string> }> {
    const digestFile = scratch('digest');
    const result = await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--digestfile', digestFile, ...flags, source, destination]);
    return { result, digest: async () => (await readFile(digestFile, 'utf8')).trim() };
  }

  beforeAll(async () => {
    registry = await startRegistry();
    const admin = await AdminApi.login(registry.url, registry.admin!);
    await admin.createOrganisation(org);
    await admin.createOrganisation(open);
    const visibility = await admin.setVisibility(open, 'public');
    if (visibility.status >= 300) throw new Error(`make ${open} public: ${visibility.status} ${visibility.text}`);
    developer = await admin.createUser(accountName('dev'), password());
    outsider = await admin.createUser(accountName('out'), password());
    const member = await admin.setMember(org, developer.username, 'developer');
    if (member.status >= 300) throw new Error(`add developer: ${member.status} ${member.text}`);
    const ci = await admin.createRobot(org, { name: 'ci', actions: ['pull', 'push'] });
    pusher = { username: ci.username, password: ci.secret };
    const ro = await admin.createRobot(org, { name: 'puller', actions: ['pull'] });
    puller = { username: ro.username, password: ro.secret };

    work = await mkdtemp(join(tmpdir(), 'berth-clients-auth-'));
    containers = await writeContainersConfig(join(work, 'containers'), registry.host);
    layout = join(work, 'layout');
    image = await buildOciLayout(layout, { layers: 2, tag: 'v1' });
    // The administrator seeds the public namespace and one private repository.
    for (const repo of [`${open}/app`, `${org}/seed`]) {
      const { result } = await copy(`oci:${layout}:v1`, `docker://${ref(repo)}:v1`, ['--dest-creds', userPass(registry.admin!)]);
      expectOk(result);
    }
  }, STEP_TIMEOUT);

  afterAll(async () => {
    for (const store of stores) await store.remove();
    await registry?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('skopeo', () => {
    const as = [
      { label: 'a user (developer in the organisation)', creds: () => developer, repo: () => `${org}/skopeo-user` },
      { label: 'a robot (<ns>+<name> with its secret)', creds: () => pusher, repo: () => `${org}/skopeo-robot` },
    ];

    it.each(as)('pushes with --dest-creds and pulls back with --src-creds as $label', { timeout: STEP_TIMEOUT }, async ({ creds, repo }) => {
      const pushed = await copy(`oci:${layout}:v1`, `docker://${ref(repo())}:v1`, ['--dest-creds', userPass(creds())]);
      expectOk(pushed.result);
      expect(await pushed.digest()).toBe(image.manifestDigest);

      const inspect = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', userPass(creds()), `docker://${ref(repo())}:v1`]);
      expectOk(inspect);
      expect(sha256(inspect.stdoutBytes)).toBe(image.manifestDigest);

      const target = scratch('pulled');
      const pulled = await copy(`docker://${ref(repo())}:v1`, `oci:${target}:v1`, ['--src-creds', userPass(creds())]);
      expectOk(pulled.result);
      const [entry] = await readLayoutIndex(target);
      expect(entry.digest).toBe(image.manifestDigest);
    });

    it('copies between two repositories with --src-creds and --dest-creds of different identities', { timeout: STEP_TIMEOUT }, async () => {
      const result = await copy(`docker://${ref(`${open}/app`)}:v1`, `docker://${ref(`${org}/skopeo-copied`)}:v1`, [
        '--src-creds',
        userPass(outsider),
        '--dest-creds',
        userPass(pusher),
      ]);
      expectOk(result.result);
      expect(await result.digest()).toBe(image.manifestDigest);
    });

    it('a pull-only robot cannot push', { timeout: STEP_TIMEOUT }, async () => {
      const { result } = await copy(`oci:${layout}:v1`, `docker://${ref(`${org}/skopeo-denied`)}:v1`, ['--dest-creds', userPass(puller)]);
      expectRefused(result);
    });

    it('a user outside the organisation can neither pull nor push', { timeout: STEP_TIMEOUT }, async () => {
      const pull = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', userPass(outsider), `docker://${ref(`${org}/seed`)}:v1`]);
      expectRefused(pull);
      const { result } = await copy(`oci:${layout}:v1`, `docker://${ref(`${org}/skopeo-outsider`)}:v1`, ['--dest-creds', userPass(outsider)]);
      expectRefused(result);
    });

    it('a wrong password is refused', { timeout: STEP_TIMEOUT }, async () => {
      const result = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `${developer.username}:wrong-password`, `docker://${ref(`${org}/seed`)}:v1`]);
      expectRefused(result);
    });

    it('anonymous (--no-creds): pulls from a public namespace', { timeout: STEP_TIMEOUT }, async () => {
      const inspect = await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${ref(`${open}/app`)}:v1`]);
      expectOk(inspect);
      expect(sha256(inspect.stdoutBytes)).toBe(image.manifestDigest);
      const target = scratch('anon');
      const pulled = await copy(`docker://${ref(`${open}/app`)}:v1`, `oci:${target}:v1`, ['--src-no-creds']);
      expectOk(pulled.result);
      expect(await pulled.digest()).toBe(image.manifestDigest);
    });

    it('anonymous: refused from a private namespace, and cannot push to a public one', { timeout: STEP_TIMEOUT }, async () => {
      expectRefused(await skopeo(['inspect', '--raw', '--tls-verify=false', '--no-creds', `docker://${ref(`${org}/seed`)}:v1`]));
      const { result } = await copy(`oci:${layout}:v1`, `docker://${ref(`${open}/anon-push`)}:v1`, ['--dest-no-creds']);
      expectRefused(result);
    });
  });

  describe('podman', () => {
    async function newStore(): Promise<PodmanStore> {
      const store = await createPodmanStore();
      stores.push(store);
      return store;
    }

    /** A fresh, empty auth file: what `podman login` writes to and the other commands read. */
    async function authFile(): Promise<string> {
      const path = scratch('auth.json');
      await writeFile(path, JSON.stringify({ auths: {} }));
      return path;
    }

    const podman = (store: PodmanStore, auth: string, args: string[]) =>
      run('podman', [...store.flags, ...args], {
        env: { ...containers.env, ...store.env, REGISTRY_AUTH_FILE: auth },
        timeoutMs: 90_000,
      });
    const common = (auth: string) => ['--tls-verify=false', '--authfile', auth];
    const pullArgs = (auth: string) => ['pull', ...common(auth), '--signature-policy', containers.policyPath];
    const pushArgs = (auth: string) => ['push', ...common(auth), '--signature-policy', containers.policyPath];

    async function login(store: PodmanStore, auth: string, creds: Credentials): Promise<CommandResult> {
      return podman(store, auth, ['login', ...common(auth), '--username', creds.username, '--password', creds.password, registry.host]);
    }

    const as = [
      { label: 'a user (developer in the organisation)', creds: () => developer, repo: () => `${org}/podman-user` },
      { label: 'a robot (<ns>+<name> with its secret)', creds: () => pusher, repo: () => `${org}/podman-robot` },
    ];

    it.each(as)('podman login, pull, push and pull back as $label', { timeout: STEP_TIMEOUT }, async ({ creds, repo }) => {
      const store = await newStore();
      const auth = await authFile();
      const loggedIn = await login(store, auth, creds());
      expectOk(loggedIn);
      expect(loggedIn.stdout + loggedIn.stderr).toMatch(/Login Succeeded/i);

      expectOk(await podman(store, auth, [...pullArgs(auth), `${ref(`${org}/seed`)}:v1`]));
      expectOk(await podman(store, auth, ['tag', `${ref(`${org}/seed`)}:v1`, `${ref(repo())}:v1`]));
      const digestFile = scratch('digest');
      expectOk(await podman(store, auth, [...pushArgs(auth), '--digestfile', digestFile, `${ref(repo())}:v1`]));
      const pushed = (await readFile(digestFile, 'utf8')).trim();

      // A second, empty store, same login: the pull really fetches everything.
      const second = await newStore();
      const again = await podman(second, auth, [...pullArgs(auth), `${ref(repo())}@${pushed}`]);
      expectOk(again);
      const inspected = await podman(second, auth, ['image', 'inspect', `${ref(repo())}@${pushed}`]);
      expectOk(inspected);
      expect((JSON.parse(inspected.stdout) as Array<{ Digest: string }>)[0].Digest).toBe(pushed);

      expectOk(await podman(store, auth, ['logout', '--authfile', auth, registry.host]));
      const afterLogout = await podman(await newStore(), auth, [...pullArgs(auth), `${ref(repo())}:v1`]);
      expectRefused(afterLogout);
    });

    it('podman login with a wrong password fails', { timeout: STEP_TIMEOUT }, async () => {
      const store = await newStore();
      const auth = await authFile();
      const result = await login(store, auth, { username: developer.username, password: 'wrong-password' });
      expectRefused(result, /unauthorized|invalid username\/password|incorrect|401/i);
    });

    it('a pull-only robot logs in and pulls, but cannot push', { timeout: STEP_TIMEOUT }, async () => {
      const store = await newStore();
      const auth = await authFile();
      expectOk(await login(store, auth, puller));
      expectOk(await podman(store, auth, [...pullArgs(auth), `${ref(`${org}/seed`)}:v1`]));
      expectOk(await podman(store, auth, ['tag', `${ref(`${org}/seed`)}:v1`, `${ref(`${org}/podman-denied`)}:v1`]));
      expectRefused(await podman(store, auth, [...pushArgs(auth), `${ref(`${org}/podman-denied`)}:v1`]));
    });

    it('anonymous (no login): pulls from a public namespace, refused from a private one', { timeout: STEP_TIMEOUT }, async () => {
      const store = await newStore();
      const auth = await authFile();
      expectOk(await podman(store, auth, [...pullArgs(auth), `${ref(`${open}/app`)}:v1`]));
      const inspected = await podman(store, auth, ['image', 'inspect', `${ref(`${open}/app`)}:v1`]);
      expectOk(inspected);
      expect((JSON.parse(inspected.stdout) as Array<{ Digest: string }>)[0].Digest).toBe(image.manifestDigest);
      expectRefused(await podman(store, auth, [...pullArgs(auth), `${ref(`${org}/seed`)}:v1`]));
    });
  });
});
