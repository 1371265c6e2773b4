/**
 * Real-client compatibility suite: skopeo, podman and containerd's ctr push to
 * and pull from Berth, and every step checks digests end to end.
 *
 * Runs twice: Berth on Postgres, and Berth on its embedded database. With
 * E2E_REGISTRY_URL set, both variants run against that server instead (this is
 * how the suite itself is validated against CNCF Distribution); repository
 * names carry the variant and a per-run id so the two never collide.
 *
 * Tests inside a variant build on each other (the image skopeo pushes is the one
 * podman pulls), so they run in order and share state through the closure.
 *
 * Missing tools or Postgres skip the affected part locally, but fail under
 * CI=true: a compatibility suite that silently skips in CI proves nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  buildDockerDir,
  buildOciIndexLayout,
  buildOciLayout,
  MEDIA_TYPES,
  readLayoutBlob,
  readLayoutIndex,
  sha256,
  type BuiltImage,
  type BuiltIndex,
} from '../support/images.js';
import { basicAuth, postgresAvailable, startRegistry, type StartOptions, type TestRegistry } from '../support/registry.js';
import {
  explain,
  hasCommand,
  createPodmanStore,
  run,
  startContainerd,
  writeContainersConfig,
  type CommandResult,
  type Containerd,
  type ContainersEnv,
  type PodmanStore,
  type RunOptions,
} from './tools.js';

const CI = process.env.CI === 'true';
const EXTERNAL = Boolean(process.env.E2E_REGISTRY_URL);
const STEP_TIMEOUT = 120_000;

/** Returns the skip reason for a missing prerequisite, or throws under CI. */
function requireOrSkip(problem: string | undefined): string | undefined {
  if (problem && CI) {
    throw new Error(`real-client e2e suite: ${problem}; under CI=true this is a failure, never a skip`);
  }
  return problem;
}

const missingOnPath = (commands: string[]) => {
  const missing = commands.filter((c) => !hasCommand(c));
  return missing.length ? `${missing.join(', ')} not found on PATH` : undefined;
};

async function postgresProblem(): Promise<string | undefined> {
  // Against an external registry no database is involved, so Postgres is not needed.
  if (EXTERNAL) return undefined;
  try {
    return (await postgresAvailable()) ? undefined : 'Postgres not reachable at TEST_DATABASE_URL';
  } catch (err) {
    return `Postgres not reachable at TEST_DATABASE_URL (${err instanceof Error ? err.message : String(err)})`;
  }
}

const clientsSkip = requireOrSkip(missingOnPath(['skopeo', 'podman']));
const containerdSkip = requireOrSkip(missingOnPath(['containerd', 'ctr']));
const postgresSkip = requireOrSkip(await postgresProblem());

for (const reason of [clientsSkip, containerdSkip, postgresSkip]) {
  if (reason) console.warn(`[real-clients] skipping part of the suite: ${reason}`);
}

const RUN_ID = randomBytes(3).toString('hex');

interface Variant {
  name: string;
  options: StartOptions;
  skip?: string;
}

const variants: Variant[] = [
  { name: 'postgres', options: {}, skip: postgresSkip },
  { name: 'embedded', options: { embedded: true } },
];

function digestFromFile(path: string): Promise<string> {
  return readFile(path, 'utf8').then((s) => s.trim());
}

function expectOk(result: CommandResult): void {
  expect(result.code, explain(result)).toBe(0);
}

describe.each(variants)('real clients against Berth ($name)', (variant) => {
  if (clientsSkip || variant.skip) {
    it.skip(`skipped: ${clientsSkip ?? variant.skip}`, () => undefined);
    return;
  }

  let registry: TestRegistry;
  let work: string;
  let containers: ContainersEnv;
  let layout: string;
  let oci: BuiltImage;
  let multi: BuiltIndex;
  let docker: BuiltImage;
  let counter = 0;

  /** A fresh path under the variant's temp dir. */
  const scratch = (label: string) => join(work, `${label}-${++counter}`);
  /** `<host>/team/<variant>-<run>/<name>`: unique per variant and per run. */
  const ref = (name: string) => `${registry.host}/team/${variant.name}-${RUN_ID}/${name}`;
  /**
   * Every client authenticates as the registry's administrator (Berth has auth on;
   * against an external registry without E2E_REGISTRY_USER no credentials are sent).
   */
  const userPass = () => (registry.admin ? `${registry.admin.username}:${registry.admin.password}` : undefined);
  const credsFlag = (flag: string) => (registry.admin ? [flag, userPass()!] : []);
  /** --src-creds / --dest-creds for the sides of a copy that are this registry. */
  const copyCreds = (source: string, destination: string) => [
    ...(source.startsWith('docker://') ? credsFlag('--src-creds') : []),
    ...(destination.startsWith('docker://') ? credsFlag('--dest-creds') : []),
  ];

  const skopeo = (args: string[], options: RunOptions = {}) =>
    run('skopeo', ['--policy', containers.policyPath, ...args], {
      ...options,
      env: { ...containers.env, ...options.env },
    });

  const inspectRaw = (reference: string) =>
    skopeo(['inspect', '--raw', '--tls-verify=false', ...credsFlag('--creds'), `docker://${reference}`]);

  /** Pushes with skopeo and returns the digest skopeo reports through --digestfile. */
  async function skopeoCopy(source: string, destination: string, extra: string[] = []): Promise<string> {
    const digestFile = scratch('digest');
    const result = await skopeo([
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--digestfile',
      digestFile,
      ...copyCreds(source, destination),
      ...extra,
      source,
      destination,
    ]);
    expectOk(result);
    return digestFromFile(digestFile);
  }

  /** GET a manifest directly, to check the headers clients rely on. */
  async function fetchManifest(repoRef: string, reference: string) {
    const repo = repoRef.slice(registry.host.length + 1);
    const response = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, {
      headers: {
        accept: [MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList].join(', '),
        ...(registry.admin ? { authorization: basicAuth(registry.admin) } : {}),
      },
    });
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      digest: response.headers.get('docker-content-digest'),
      body: Buffer.from(await response.arrayBuffer()),
    };
  }

  beforeAll(async () => {
    registry = await startRegistry(variant.options);
    work = await mkdtemp(join(tmpdir(), `berth-clients-${variant.name}-`));
    containers = await writeContainersConfig(join(work, 'containers'), registry.host);
    layout = join(work, 'layout');
    oci = await buildOciLayout(layout, { layers: 2, tag: 'v1' });
    multi = await buildOciIndexLayout(layout, { tag: 'multi' });
    docker = await buildDockerDir(join(work, 'docker-dir'), { layers: 2 });
  });

  afterAll(async () => {
    await registry?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe('skopeo', () => {
    it('pushes an OCI image and serves the exact manifest bytes back', { timeout: STEP_TIMEOUT }, async () => {
      const digest = await skopeoCopy(`oci:${layout}:v1`, `docker://${ref('app')}:v1`);
      // skopeo copies an OCI manifest unmodified, so the digest is known up front.
      expect(digest).toBe(oci.manifestDigest);

      for (const reference of [`${ref('app')}:v1`, `${ref('app')}@${digest}`]) {
        const raw = await inspectRaw(reference);
        expectOk(raw);
        expect(sha256(raw.stdoutBytes), `sha256 of the manifest served for ${reference}`).toBe(digest);
        expect(raw.stdoutBytes.equals(oci.manifestBytes), 'manifest bytes must be served verbatim').toBe(true);
      }

      const inspected = await skopeo(['inspect', '--tls-verify=false', ...credsFlag('--creds'), `docker://${ref('app')}:v1`]);
      expectOk(inspected);
      const info = JSON.parse(inspected.stdout) as { Digest: string; Layers: string[]; Architecture: string; Os: string };
      expect(info.Digest).toBe(digest);
      expect(info.Layers).toEqual(oci.layers.map((l) => l.digest));
      expect([info.Os, info.Architecture]).toEqual(['linux', 'amd64']);

      const direct = await fetchManifest(ref('app'), 'v1');
      expect(direct.status).toBe(200);
      expect(direct.contentType).toBe(MEDIA_TYPES.ociManifest);
      expect(direct.digest).toBe(digest);
    });

    it('pushes Docker schema2 images, converted with --format v2s2 and verbatim', { timeout: STEP_TIMEOUT }, async () => {
      // Conversion: skopeo writes a new (compact) manifest, so only its own report tells the digest.
      const converted = await skopeoCopy(`oci:${layout}:v1`, `docker://${ref('app-docker')}:v1`, ['--format', 'v2s2']);
      const raw = await inspectRaw(`${ref('app-docker')}:v1`);
      expectOk(raw);
      expect(sha256(raw.stdoutBytes)).toBe(converted);
      const manifest = JSON.parse(raw.stdout) as {
        mediaType: string;
        config: { mediaType: string; digest: string };
        layers: { mediaType: string; digest: string }[];
      };
      expect(manifest.mediaType).toBe(MEDIA_TYPES.dockerManifest);
      expect(manifest.config).toMatchObject({ mediaType: MEDIA_TYPES.dockerConfig, digest: oci.config.digest });
      // The layers are the same gzip blobs, only relabelled.
      expect(manifest.layers.map((l) => l.digest)).toEqual(oci.layers.map((l) => l.digest));
      expect(manifest.layers.every((l) => l.mediaType === MEDIA_TYPES.dockerLayerGzip)).toBe(true);

      const direct = await fetchManifest(ref('app-docker'), 'v1');
      expect(direct.contentType).toBe(MEDIA_TYPES.dockerManifest);
      expect(direct.digest).toBe(converted);

      // Verbatim: a hand-written schema2 manifest from a `dir:` layout keeps its bytes and digest.
      const verbatim = await skopeoCopy(`dir:${join(work, 'docker-dir')}`, `docker://${ref('app-docker')}:verbatim`);
      expect(verbatim).toBe(docker.manifestDigest);
      const rawVerbatim = await inspectRaw(`${ref('app-docker')}@${verbatim}`);
      expectOk(rawVerbatim);
      expect(rawVerbatim.stdoutBytes.equals(docker.manifestBytes), 'schema2 manifest bytes served verbatim').toBe(true);
    });

    it('lists tags', { timeout: STEP_TIMEOUT }, async () => {
      // A second tag on the same manifest: all blobs exist already, only the manifest is put.
      expect(await skopeoCopy(`oci:${layout}:v1`, `docker://${ref('app')}:v2`)).toBe(oci.manifestDigest);

      for (const [repo, expected] of [
        [ref('app'), ['v1', 'v2']],
        [ref('app-docker'), ['v1', 'verbatim']],
      ] as const) {
        const result = await skopeo(['list-tags', '--tls-verify=false', ...credsFlag('--creds'), `docker://${repo}`]);
        expectOk(result);
        const { Tags } = JSON.parse(result.stdout) as { Tags: string[] };
        expect([...Tags].sort()).toEqual(expected);
      }
    });

    it('copies between repositories of the registry by mounting blobs', { timeout: STEP_TIMEOUT }, async () => {
      const digestFile = scratch('digest');
      // --debug shows whether skopeo's blob-info cache led it to a cross-repo mount
      // (POST .../blobs/uploads/?mount=<digest>&from=<repo> answered 201) instead of an upload.
      const result = await skopeo([
        '--debug',
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        '--digestfile',
        digestFile,
        ...copyCreds('docker://', 'docker://'),
        `docker://${ref('app')}:v1`,
        `docker://${ref('app-copy')}:v1`,
      ]);
      expectOk(result);
      expect(await digestFromFile(digestFile)).toBe(oci.manifestDigest);
      const mounted = result.stderr.split('\n').filter((line) => line.includes('mount OK')).length;
      // skopeo only tries to mount layers (the config blob is always uploaded).
      expect(mounted, `expected every layer to be mounted\n${explain(result)}`).toBe(oci.layers.length);

      const raw = await inspectRaw(`${ref('app-copy')}:v1`);
      expectOk(raw);
      expect(sha256(raw.stdoutBytes)).toBe(oci.manifestDigest);
    });

    it('pulls an image back into a fresh OCI layout with identical blobs', { timeout: STEP_TIMEOUT }, async () => {
      const pulled = scratch('pulled');
      await skopeoCopy(`docker://${ref('app-copy')}:v1`, `oci:${pulled}:v1`);

      const [entry] = await readLayoutIndex(pulled);
      expect(entry.digest).toBe(oci.manifestDigest);
      const manifestBytes = await readLayoutBlob(pulled, entry.digest);
      expect(manifestBytes.equals(oci.manifestBytes)).toBe(true);
      const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
      expect(manifest.layers.map((l) => l.digest)).toEqual(oci.layers.map((l) => l.digest));

      for (const descriptor of [manifest.config, ...manifest.layers]) {
        const bytes = await readLayoutBlob(pulled, descriptor.digest);
        expect(sha256(bytes), `pulled blob ${descriptor.digest}`).toBe(descriptor.digest);
      }
      const firstLayer = gunzipSync(await readLayoutBlob(pulled, manifest.layers[0].digest));
      expect(sha256(firstLayer)).toBe(oci.diffIds[0]);
      expect(firstLayer.toString('utf8')).toContain(oci.helloContent);
    });

    it('pushes and pulls a multi-arch index with --all', { timeout: STEP_TIMEOUT }, async () => {
      const digest = await skopeoCopy(`oci:${layout}:multi`, `docker://${ref('app-multi')}:v1`, ['--all']);
      expect(digest).toBe(multi.indexDigest);

      const raw = await inspectRaw(`${ref('app-multi')}:v1`);
      expectOk(raw);
      expect(raw.stdoutBytes.equals(multi.indexBytes), 'index bytes served verbatim').toBe(true);
      const direct = await fetchManifest(ref('app-multi'), 'v1');
      expect(direct.contentType).toBe(MEDIA_TYPES.ociIndex);
      expect(direct.digest).toBe(multi.indexDigest);

      for (const image of multi.images) {
        const child = await inspectRaw(`${ref('app-multi')}@${image.manifestDigest}`);
        expectOk(child);
        expect(child.stdoutBytes.equals(image.manifestBytes), `child manifest ${image.manifestDigest}`).toBe(true);
      }

      // Platform selection through the index, as a client on arm64 would do it.
      const arm = multi.images.find((i) => i.manifest.platform?.architecture === 'arm64')!;
      const armInfo = await skopeo([
        '--override-arch',
        'arm64',
        '--override-variant',
        'v8',
        'inspect',
        '--tls-verify=false',
        ...credsFlag('--creds'),
        `docker://${ref('app-multi')}:v1`,
      ]);
      expectOk(armInfo);
      const info = JSON.parse(armInfo.stdout) as { Architecture: string; Layers: string[] };
      expect(info.Architecture).toBe('arm64');
      expect(info.Layers).toEqual(arm.layers.map((l) => l.digest));

      const pulled = scratch('pulled-multi');
      await skopeoCopy(`docker://${ref('app-multi')}:v1`, `oci:${pulled}:v1`, ['--all']);
      const [entry] = await readLayoutIndex(pulled);
      expect(entry.digest).toBe(multi.indexDigest);
      for (const image of multi.images) {
        for (const layer of image.layers) {
          expect(sha256(await readLayoutBlob(pulled, layer.digest))).toBe(layer.digest);
        }
      }
    });

    it('deletes a manifest by digest, leaving other repositories intact', { timeout: STEP_TIMEOUT }, async () => {
      const deleted = await skopeo(['delete', '--tls-verify=false', ...credsFlag('--creds'), `docker://${ref('app-copy')}@${oci.manifestDigest}`]);
      expectOk(deleted);

      const byDigest = await inspectRaw(`${ref('app-copy')}@${oci.manifestDigest}`);
      expect(byDigest.code, `inspect by digest should fail after delete\n${explain(byDigest)}`).not.toBe(0);
      expect(byDigest.stderr).toMatch(/manifest unknown/i);
      // The tag pointed at the deleted manifest, so it must not resolve any more either.
      const byTag = await inspectRaw(`${ref('app-copy')}:v1`);
      expect(byTag.code, `inspect by tag should fail after delete\n${explain(byTag)}`).not.toBe(0);

      // app-copy's layers were mounted from app: deleting there must not break app.
      const raw = await inspectRaw(`${ref('app')}:v1`);
      expectOk(raw);
      expect(sha256(raw.stdoutBytes)).toBe(oci.manifestDigest);
      const pulled = scratch('pulled-after-delete');
      await skopeoCopy(`docker://${ref('app')}:v1`, `oci:${pulled}:v1`);
      const [entry] = await readLayoutIndex(pulled);
      expect(entry.digest).toBe(oci.manifestDigest);
    });
  });

  describe('podman', () => {
    const stores: PodmanStore[] = [];
    afterAll(async () => {
      for (const store of stores) await store.remove();
    });
    async function newStore(): Promise<PodmanStore> {
      const store = await createPodmanStore();
      stores.push(store);
      return store;
    }

    /** podman on its own vfs store (see createPodmanStore for why each flag). */
    const podman = (store: PodmanStore, args: string[]) =>
      run('podman', [...store.flags, ...args], { env: { ...containers.env, ...store.env }, timeoutMs: 90_000 });

    interface PodmanImage {
      Id: string;
      Digest: string;
      RepoDigests: string[];
      RootFS: { Layers: string[] };
    }
    async function podmanInspect(storage: PodmanStore, reference: string): Promise<PodmanImage> {
      const result = await podman(storage, ['image', 'inspect', reference]);
      expectOk(result);
      return (JSON.parse(result.stdout) as PodmanImage[])[0];
    }

    it('pulls, tags, pushes to another repository and pulls back by digest', { timeout: STEP_TIMEOUT }, async () => {
      const first = await newStore();
      const pull = await podman(first, [
        'pull',
        '--tls-verify=false',
        '--signature-policy',
        containers.policyPath,
        ...credsFlag('--creds'),
        `${ref('app')}:v1`,
      ]);
      expectOk(pull);
      const pulled = await podmanInspect(first, `${ref('app')}:v1`);
      expect(pulled.Digest).toBe(oci.manifestDigest);
      expect(pulled.RepoDigests).toContain(`${ref('app')}@${oci.manifestDigest}`);
      // podman verifies layers against the config's diff_ids while storing them.
      expect(pulled.RootFS.Layers).toEqual(oci.diffIds);
      expect(`sha256:${pulled.Id}`).toBe(oci.config.digest);

      expectOk(await podman(first, ['tag', `${ref('app')}:v1`, `${ref('podman')}:v2`]));
      const digestFile = scratch('digest');
      const push = await podman(first, [
        'push',
        '--tls-verify=false',
        '--signature-policy',
        containers.policyPath,
        ...credsFlag('--creds'),
        '--digestfile',
        digestFile,
        `${ref('podman')}:v2`,
      ]);
      expectOk(push);
      // podman regenerates the manifest from its store, so its digest may differ from the
      // original; what must hold is that the registry serves exactly what podman reports.
      const pushed = await digestFromFile(digestFile);
      const raw = await inspectRaw(`${ref('podman')}:v2`);
      expectOk(raw);
      expect(sha256(raw.stdoutBytes)).toBe(pushed);

      // A second, empty store so the pull really fetches everything.
      const second = await newStore();
      const pullBack = await podman(second, [
        'pull',
        '--tls-verify=false',
        '--signature-policy',
        containers.policyPath,
        ...credsFlag('--creds'),
        `${ref('podman')}@${pushed}`,
      ]);
      expectOk(pullBack);
      const again = await podmanInspect(second, `${ref('podman')}@${pushed}`);
      expect(again.Digest).toBe(pushed);
      expect(again.RepoDigests).toContain(`${ref('podman')}@${pushed}`);
      expect(again.RootFS.Layers).toEqual(oci.diffIds);
      expect(again.Id).toBe(pulled.Id);
    });

    it('pulls a Docker schema2 image', { timeout: STEP_TIMEOUT }, async () => {
      const storage = await newStore();
      const pull = await podman(storage, [
        'pull',
        '--tls-verify=false',
        '--signature-policy',
        containers.policyPath,
        ...credsFlag('--creds'),
        `${ref('app-docker')}:verbatim`,
      ]);
      expectOk(pull);
      const image = await podmanInspect(storage, `${ref('app-docker')}:verbatim`);
      expect(image.Digest).toBe(docker.manifestDigest);
      expect(image.RootFS.Layers).toEqual(docker.diffIds);
    });
  });

  describe('containerd ctr', () => {
    if (containerdSkip) {
      it.skip(`skipped: ${containerdSkip}`, () => undefined);
      return;
    }

    let containerd: Containerd;
    const ctr = (args: string[]) => containerd.ctr(args);

    /** Digest column of `ctr images ls` for one reference. */
    async function listedDigest(reference: string): Promise<string | undefined> {
      const result = await ctr(['images', 'ls']);
      expectOk(result);
      const row = result.stdout
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .find((cols) => cols[0] === reference);
      return row?.[2];
    }

    beforeAll(async () => {
      containerd = await startContainerd(scratch('containerd'));
    });

    afterAll(async () => {
      await containerd?.stop();
    });

    it('pulls single-platform, multi-platform and schema2 images', { timeout: STEP_TIMEOUT }, async () => {
      // The native snapshotter unpacks by copying files: no overlay mounts in the sandbox.
      const pull = (reference: string, extra: string[] = []) =>
        ctr(['images', 'pull', '--plain-http', ...credsFlag('--user'), '--snapshotter', 'native', ...extra, reference]);

      expectOk(await pull(`${ref('app')}:v1`));
      expect(await listedDigest(`${ref('app')}:v1`)).toBe(oci.manifestDigest);

      expectOk(await pull(`${ref('app-multi')}:v1`, ['--all-platforms']));
      expect(await listedDigest(`${ref('app-multi')}:v1`)).toBe(multi.indexDigest);

      expectOk(await pull(`${ref('app-docker')}:verbatim`));
      expect(await listedDigest(`${ref('app-docker')}:verbatim`)).toBe(docker.manifestDigest);
    });

    it('pushes to another repository, keeping the manifest bytes', { timeout: STEP_TIMEOUT }, async () => {
      expectOk(await ctr(['images', 'tag', `${ref('app')}:v1`, `${ref('ctr')}:v1`]));
      expectOk(await ctr(['images', 'push', '--plain-http', ...credsFlag('--user'), `${ref('ctr')}:v1`]));
      const raw = await inspectRaw(`${ref('ctr')}:v1`);
      expectOk(raw);
      expect(sha256(raw.stdoutBytes)).toBe(oci.manifestDigest);
    });
  });
});
