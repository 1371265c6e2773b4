import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MiB = 1024 * 1024;
export const KiB = 1024;

/** One server set-up measured in a run; each gets its own freshly started process. */
export type ConfigName = 'distribution' | 'berth-pg-bearer' | 'berth-pg-basic' | 'berth-embedded-bearer';

export interface BerthMode {
  /** postgres: a fresh database on BENCH_DATABASE_URL; embedded: no DATABASE_URL. */
  database: 'postgres' | 'embedded';
  /** bearer: the Docker token flow, one token sent on every request; basic: Basic credentials on every request. */
  auth: 'bearer' | 'basic';
}

export interface ConfigSpec {
  name: ConfigName;
  label: string;
  /** Absent for Distribution. */
  berth?: BerthMode;
}

/** In run order: Distribution first, as every ratio divides by its median. */
export const CONFIGS: readonly ConfigSpec[] = [
  { name: 'distribution', label: 'Distribution' },
  { name: 'berth-pg-bearer', label: 'Berth, Postgres, bearer', berth: { database: 'postgres', auth: 'bearer' } },
  { name: 'berth-pg-basic', label: 'Berth, Postgres, Basic', berth: { database: 'postgres', auth: 'basic' } },
  { name: 'berth-embedded-bearer', label: 'Berth, embedded, bearer', berth: { database: 'embedded', auth: 'bearer' } },
];

export type DistributionCache = 'inmemory' | 'none';

/** BENCH_ONLY: run one part of the comparison alone. */
export type OnlyPart = 'proxy';

export interface BenchConfig {
  configs: ConfigSpec[];
  /** Rounds per configuration, all in one server process: round 1 is "fresh", the others "warm". */
  rounds: number;
  /** Size of each large blob (monolithic and chunked push, pull). */
  blobBytes: number;
  /** PATCH size for the chunked push. */
  chunkBytes: number;
  images: number;
  imageWorkers: number;
  layerBytes: number;
  manifestConnections: number;
  manifestDurationSec: number;
  /** Server on which a throw-away database is created for Berth. */
  adminDatabaseUrl: string;
  /** BENCH_SKIP_BUILD=1: use the existing dist/ instead of running `npm run build`. */
  skipBuild: boolean;
  distributionBin: string;
  distributionCache: DistributionCache;
  curlBin: string;
  wrkBin: string;
  /** Figure 7 (Berth only): manifest GET with a webhook subscription on vs off. BENCH_WEBHOOKS=0 skips it. */
  webhooks: boolean;
  /** redis-server for figure 7 (a private instance on a free port). */
  redisBin: string;
  /** Seconds of each of figure 7's two manifest GET runs. */
  webhookDurationSec: number;
  /** Figure 8 (pull-through cache): cold, then cached pulls through Berth's proxy namespace and Distribution's proxy mode. BENCH_PROXY=0 skips it. */
  proxy: boolean;
  /** Size of figure 8's layer (one random blob per round and server). */
  proxyLayerBytes: number;
  /** The auth modes in which figure 8 pulls through Berth (one Berth process; a fresh blob per mode and round). */
  proxyAuth: BerthMode['auth'][];
  /** Figure 8's 8d/8e: the rate of the bandwidth-limited link in front of the upstream, bytes/s; 0 leaves them out. */
  proxyLinkBytesPerSec: number;
  /** BENCH_ONLY=proxy: figure 8 alone (no configurations, no figure 7). */
  only: OnlyPart | null;
  repoRoot: string;
  berthMain: string;
  resultsFile: string;
}

const benchDir = dirname(fileURLToPath(import.meta.url));

/** A mistake in the BENCH_* environment: reported as one line, without a stack. */
export class BenchConfigError extends Error {}

function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new BenchConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

function flagEnv(name: string): boolean {
  return ['1', 'true', 'yes'].includes((process.env[name] ?? '').toLowerCase());
}

/** Like flagEnv, for a switch that is on unless set to 0/false/no. */
function onUnlessDisabled(name: string): boolean {
  return !['0', 'false', 'no'].includes((process.env[name] ?? '').toLowerCase());
}

function parseConfigs(raw: string | undefined): ConfigSpec[] {
  const names = (raw ?? CONFIGS.map((c) => c.name).join(','))
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const name of names) {
    if (!CONFIGS.some((c) => c.name === name)) {
      throw new BenchConfigError(`BENCH_CONFIGS: unknown configuration "${name}" (use ${CONFIGS.map((c) => c.name).join(',')})`);
    }
  }
  if (names.length === 0) throw new BenchConfigError('BENCH_CONFIGS selects no configuration');
  // Always in CONFIGS order, so Distribution runs first whatever the spelling.
  return CONFIGS.filter((c) => names.includes(c.name));
}

function parseCache(raw: string | undefined): DistributionCache {
  const value = (raw ?? 'inmemory').toLowerCase();
  if (value !== 'inmemory' && value !== 'none') {
    throw new BenchConfigError(`BENCH_DISTRIBUTION_CACHE must be "inmemory" or "none", got "${raw}"`);
  }
  return value;
}

function parseProxyAuth(raw: string | undefined): BerthMode['auth'][] {
  const names = (raw ?? 'bearer,basic').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const name of names) {
    if (name !== 'bearer' && name !== 'basic') throw new BenchConfigError(`BENCH_PROXY_AUTH: unknown auth mode "${name}" (use bearer,basic)`);
  }
  if (names.length === 0) throw new BenchConfigError('BENCH_PROXY_AUTH selects no auth mode');
  // Always bearer first: round 1's first pull through Berth is the bearer one whatever the spelling.
  return (['bearer', 'basic'] as const).filter((mode) => names.includes(mode));
}

function parseOnly(raw: string | undefined, proxy: boolean): OnlyPart | null {
  if (raw === undefined || raw === '') return null;
  if (raw.toLowerCase() !== 'proxy') throw new BenchConfigError(`BENCH_ONLY must be "proxy", got "${raw}"`);
  if (!proxy) throw new BenchConfigError('BENCH_ONLY=proxy contradicts BENCH_PROXY=0');
  return 'proxy';
}

/** The switches BENCH_CONFIGS replaced: refuse them rather than silently measure something else. */
function refuseRetiredSwitches(): void {
  for (const name of ['BENCH_TARGETS', 'BENCH_AUTH', 'BENCH_EMBEDDED']) {
    if (process.env[name]) {
      throw new BenchConfigError(`${name} is gone: pick configurations with BENCH_CONFIGS=${CONFIGS.map((c) => c.name).join(',')}`);
    }
  }
}

export function loadConfig(): BenchConfig {
  refuseRetiredSwitches();
  const repoRoot = resolve(benchDir, '..', '..');
  // BENCH_BLOB_MIB / BENCH_CHUNK_MIB / BENCH_IMAGES exist for quick smoke runs;
  // the published figures use the defaults.
  const blobMiB = intEnv('BENCH_BLOB_MIB', 256, 1);
  const chunkMiB = intEnv('BENCH_CHUNK_MIB', 8, 1);
  const proxy = onUnlessDisabled('BENCH_PROXY');
  return {
    configs: parseConfigs(process.env.BENCH_CONFIGS),
    rounds: intEnv('BENCH_ROUNDS', 3, 1),
    blobBytes: blobMiB * MiB,
    chunkBytes: Math.min(chunkMiB, blobMiB) * MiB,
    images: intEnv('BENCH_IMAGES', 160, 1),
    imageWorkers: 16,
    layerBytes: 16 * KiB,
    manifestConnections: 32,
    manifestDurationSec: intEnv('BENCH_DURATION', 10, 1),
    adminDatabaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
    skipBuild: flagEnv('BENCH_SKIP_BUILD'),
    distributionBin: process.env.BENCH_DISTRIBUTION_BIN || '/usr/bin/docker-registry',
    distributionCache: parseCache(process.env.BENCH_DISTRIBUTION_CACHE),
    curlBin: process.env.BENCH_CURL_BIN || '/usr/bin/curl',
    wrkBin: process.env.BENCH_WRK_BIN || '/usr/bin/wrk',
    webhooks: onUnlessDisabled('BENCH_WEBHOOKS'),
    redisBin: process.env.BENCH_REDIS_BIN || '/usr/bin/redis-server',
    webhookDurationSec: intEnv('BENCH_WEBHOOK_DURATION', intEnv('BENCH_DURATION', 10, 1), 1),
    proxy,
    proxyLayerBytes: intEnv('BENCH_PROXY_LAYER_MIB', 256, 1) * MiB,
    proxyAuth: parseProxyAuth(process.env.BENCH_PROXY_AUTH),
    proxyLinkBytesPerSec: intEnv('BENCH_PROXY_LINK_MIBPS', 200, 0) * MiB,
    only: parseOnly(process.env.BENCH_ONLY, proxy),
    repoRoot,
    // Override only to exercise the harness against a stand-in server.
    berthMain: process.env.BENCH_BERTH_MAIN || join(repoRoot, 'dist', 'apps', 'registry', 'src', 'main.js'),
    resultsFile: join(benchDir, 'results', 'latest.json'),
  };
}

export function distributionInstalled(config: BenchConfig): boolean {
  return existsSync(config.distributionBin);
}

export function redisInstalled(config: BenchConfig): boolean {
  return existsSync(config.redisBin);
}

/** The command line that reproduces this run (BENCH_* settings included), for the report. */
export function commandLine(): string {
  const settings = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  const args = process.argv.slice(2);
  return [...settings, 'npm run bench', ...(args.length ? ['--', ...args] : [])].join(' ');
}
