/**
 * skopeo and podman against Berth on the S3 driver (s3rver): every blob they pull comes
 * through a 307 to a presigned URL. The URLs name the store as `localhost`
 * (S3_PUBLIC_ENDPOINT) while Berth reaches it at `127.0.0.1`, as when clients reach
 * the store at another address than Berth does; the clients must follow the redirect
 * to another host and present no registry credentials there (the store refuses a
 * request carrying two kinds of auth). Missing tools or Postgres skip locally and
 * fail under CI=true.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3TestServer } from '../../libs/storage/src/s3/testing/s3-test-server.js';
import { createPodmanStore, explain, hasCommand, run, writeContainersConfig, type CommandResult, type ContainersEnv } from '../clients/tools.js';
import { buildOciLayout, readLayoutBlob, type BuiltImage } from '../support/images.js';
import { postgresAvailable, startRegistry, type TestRegistry } from '../support/registry.js';

const STEP_TIMEOUT = 120_000;

function skipReason(): string | undefined {
  if (process.env.E2E_REGISTRY_URL) return 'runs only against the in-process registry';
  const missing = ['skopeo', 'podman'].filter((command) => !hasCommand(command));
  if (!missing.length) return undefined;
  const problem = `${missing.join(', ')} not found on PATH`;
  if (process.env.CI === 'true') throw new Error(`s3 clients suite: ${problem}; under CI=true this is a failure, never a skip`);
  return problem;
}

const skip = skipReason() ?? ((await postgresAvailable()) ? undefined : 'Postgres not reachable at TEST_DATABASE_URL');
if (skip) console.warn(`[s3-clients] SKIPPED: ${skip}`);

function expectOk(result: CommandResult): void {
  expect(result.code, explain(result)).toBe(0);
}

describe.skipIf(Boolean(skip))('skopeo and podman pull through redirects to S3', () => {
  let s3: S3TestServer;
  let registry: TestRegistry;
  let work: string;
  let containers: ContainersEnv;
  let layout: string;
  let image: BuiltImage;

  const ref = (name: string) => `${registry.host}/team/${name}`;
  const creds = () => `${registry.admin!.username}:${registry.admin!.password}`;
  const skopeo = (args: string[]) => run('skopeo', ['--policy', containers.policyPath, ...args], { env: containers.env, timeoutMs: 90_000 });

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    registry = await startRegistry({
      env: { ...s3.env('clients'), S3_PUBLIC_ENDPOINT: s3.endpoint.replace('127.0.0.1', 'localhost') },
    });
    work = await mkdtemp(join(tmpdir(), 'berth-s3-clients-'));
    containers = await writeContainersConfig(join(work, 'containers'), registry.host);
    layout = join(work, 'layout');
    image = await buildOciLayout(layout, { layers: 2, tag: 'v1' });
    expectOk(
      await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-creds', creds(), `oci:${layout}:v1`, `docker://${ref('app')}:v1`]),
    );
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('redirects blob GETs to the bucket', async () => {
    const res = await fetch(`${registry.url}/v2/team/app/blobs/${image.layers[0].digest}`, {
      headers: { authorization: `Basic ${Buffer.from(creds()).toString('base64')}` },
      redirect: 'manual',
    });
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toMatch(/^http:\/\/localhost:\d+\//);
  });

  it('skopeo copies the image back out, every blob byte for byte', { timeout: STEP_TIMEOUT }, async () => {
    const out = join(work, 'out');
    expectOk(await skopeo(['copy', '--src-tls-verify=false', '--src-creds', creds(), `docker://${ref('app')}:v1`, `oci:${out}:v1`]));
    for (const descriptor of [image.config, ...image.layers]) {
      expect((await readLayoutBlob(out, descriptor.digest)).equals(await readLayoutBlob(layout, descriptor.digest))).toBe(true);
    }
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests[0].digest).toBe(image.manifestDigest);
  });

  it('podman pulls the image and verifies its layers', { timeout: STEP_TIMEOUT }, async () => {
    const store = await createPodmanStore();
    try {
      const podman = (args: string[]) => run('podman', [...store.flags, ...args], { env: { ...containers.env, ...store.env }, timeoutMs: 90_000 });
      expectOk(await podman(['pull', '--tls-verify=false', '--signature-policy', containers.policyPath, '--creds', creds(), `${ref('app')}:v1`]));
      const inspected = await podman(['image', 'inspect', `${ref('app')}:v1`]);
      expectOk(inspected);
      const [pulled] = JSON.parse(inspected.stdout) as Array<{ Digest: string; RootFS: { Layers: string[] } }>;
      expect(pulled.Digest).toBe(image.manifestDigest);
      expect(pulled.RootFS.Layers).toEqual(image.diffIds);
    } finally {
      await store.remove();
    }
  });
});
