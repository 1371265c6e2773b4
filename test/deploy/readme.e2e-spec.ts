/**
 * The README's walk-throughs, run as written: every shell block marked
 * `<!-- readme-test: NAME -->` runs in bash (errexit, pipefail) against a real registry,
 * with `localhost:5000` pointing at it and real podman, skopeo, curl and jq. curl fails
 * on any HTTP error here, so a walk-through that answers 4xx fails the test.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPodmanStore, explain, hasCommand, run, writeContainersConfig, type PodmanStore } from '../clients/tools.js';
import { postgresAvailable, startInProcessRegistry, startRegistry, type TestRegistry } from '../support/registry.js';

/** The shell block following each `<!-- readme-test: NAME -->` marker, by name. */
export function readmeBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of markdown.matchAll(/<!-- readme-test: ([\w-]+) -->\n```sh\n([\s\S]*?)```/g)) {
    blocks.set(match[1], match[2]);
  }
  return blocks;
}

const tools = ['podman', 'skopeo', 'curl', 'jq'];
const ready = (await postgresAvailable()) && tools.every(hasCommand);
if (!ready && process.env.CI) throw new Error(`the README test needs Postgres and ${tools.join(', ')}`);

describe.skipIf(!ready)('README walk-throughs', () => {
  const blocks = readmeBlocks(readFileSync('README.md', 'utf8'));
  let work: string;
  let store: PodmanStore;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-readme-'));
    store = await createPodmanStore();
  });
  afterAll(async () => {
    await store?.remove();
    await rm(work, { recursive: true, force: true });
  });

  /** Runs a README block against a fresh registry, as a reader would in a fresh directory. */
  async function runBlock(name: string, registry: TestRegistry, prelude = '') {
    const block = blocks.get(name);
    expect(block, `README has a block marked readme-test: ${name}`).toBeDefined();
    const script = block!
      .replace(/^export ADMIN_PASSWORD=.*$/m, '')
      .replaceAll('localhost:5000', registry.host);
    const containers = await writeContainersConfig(join(work, `${name}-conf`), registry.host);
    const result = await run(
      'bash',
      ['-c', `set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n${prelude}\n${script}`],
      {
        cwd: work,
        timeoutMs: 180_000,
        env: {
          ...containers.env,
          ...store.env,
          TMPDIR: work,
          ADMIN_PASSWORD: registry.admin!.password,
        },
      },
    );
    expect(result.code, explain(result)).toBe(0);
    return result;
  }

  it('quick start: create a namespace, build, push, pull, inspect, list', async () => {
    const registry = await startRegistry();
    try {
      const result = await runBlock('try-it', registry);
      expect(result.stdout).toContain('"team/app"');
      const tags = await fetch(`${registry.url}/v2/team/app/tags/list`, {
        headers: { authorization: `Basic ${Buffer.from(`admin:${registry.admin!.password}`).toString('base64')}` },
      });
      expect(await tags.json()).toEqual({ name: 'team/app', tags: ['latest'] });
    } finally {
      await registry.close();
    }
  });

  it('access control: users, namespace, member, robot, and pushes as alice and the robot', async () => {
    const registry = await startRegistry();
    try {
      await runBlock('access-control', registry);
      const tags = await fetch(`${registry.url}/v2/team/app/tags/list`, {
        headers: { authorization: `Basic ${Buffer.from(`admin:${registry.admin!.password}`).toString('base64')}` },
      });
      expect(await tags.json()).toEqual({ name: 'team/app', tags: ['ci'] });
    } finally {
      await registry.close();
    }
  });

  // `npm run cli` builds dist/ first when it is missing or stale (a fresh clone): give it time.
  it('garbage collection and the storage check: a run through the API, read back and listed, then the CLI', { timeout: 240_000 }, async () => {
    const registry = await startInProcessRegistry();
    try {
      // R and H as the admin API walk-through leaves them; the CLI runs from the checkout, on the registry's database.
      const prelude = [
        `R=http://${registry.host}`,
        `TOKEN=$(curl -s $R/api/v1/auth/login -H 'Content-Type: application/json' -d '{"username":"admin","password":"'"$ADMIN_PASSWORD"'"}' | jq -r .token)`,
        'H="Authorization: Bearer $TOKEN"',
        `cd ${JSON.stringify(process.cwd())}`,
        `export DATABASE_URL=${JSON.stringify(registry.database!.url)} DATA_DIR=${JSON.stringify(registry.dataDir)} LOG_LEVEL=warn`,
      ].join('\n');
      const result = await runBlock('gc', registry, prelude);
      expect(result.stdout).toContain('"status":"');
      expect(result.stdout).toContain('succeeded (dry run)');
      const runs = await registry.database!.query<{ trigger: string; dry_run: boolean; status: string }>('SELECT trigger, dry_run, status FROM gc_runs ORDER BY id');
      expect(runs).toEqual([
        { trigger: 'api', dry_run: true, status: 'succeeded' },
        { trigger: 'cli', dry_run: true, status: 'succeeded' },
      ]);
      await runBlock('verify', registry, prelude);
      expect(await registry.database!.query('SELECT status FROM verify_runs ORDER BY id')).toEqual([
        { status: 'finished' },
        { status: 'finished' },
        { status: 'finished' },
      ]);
    } finally {
      await registry.close();
    }
  });
});

