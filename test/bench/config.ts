import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MiB = 1024 * 1024;
export const KiB = 1024;

export type TargetName = 'berth' | 'distribution';
export type DistributionCache = 'inmemory' | 'none';

export interface BenchConfig {
  targets: TargetName[];
  /** Size of each large blob (steps 1-3). */
  blobBytes: number;
  /** PATCH size for the chunked push (step 2). */
  chunkBytes: number;
  images: number;
  imageWorkers: number;
  layerBytes: number;
  manifestConnections: number;
  manifestDurationSec: number;
  /** BENCH_EMBEDDED=1: Berth runs without DATABASE_URL (embedded database). */
  embedded: boolean;
  /** Server on which a throw-away database is created for Berth. */
  adminDatabaseUrl: string;
  /** BENCH_SKIP_BUILD=1: use the existing dist/ instead of running `npm run build`. */
  skipBuild: boolean;
  distributionBin: string;
  distributionCache: DistributionCache;
  /** Figure 7 (Berth only): manifest GET with a webhook subscription on vs off. BENCH_WEBHOOKS=0 skips it. */
  webhooks: boolean;
  /** redis-server for figure 7 (a private instance on a free port). */
  redisBin: string;
  /** Seconds of each of figure 7's two manifest GET runs. */
  webhookDurationSec: number;
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

function parseTargets(raw: string | undefined): TargetName[] {
  const names = (raw ?? 'berth,distribution')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const name of names) {
    if (name !== 'berth' && name !== 'distribution') {
      throw new BenchConfigError(`BENCH_TARGETS: unknown target "${name}" (use berth,distribution)`);
    }
  }
  if (names.length === 0) throw new BenchConfigError('BENCH_TARGETS selects no target');
  return [...new Set(names)] as TargetName[];
}

function parseCache(raw: string | undefined): DistributionCache {
  const value = (raw ?? 'inmemory').toLowerCase();
  if (value !== 'inmemory' && value !== 'none') {
    throw new BenchConfigError(`BENCH_DISTRIBUTION_CACHE must be "inmemory" or "none", got "${raw}"`);
  }
  return value;
}

export function loadConfig(): BenchConfig {
  const repoRoot = resolve(benchDir, '..', '..');
  // BENCH_BLOB_MIB / BENCH_CHUNK_MIB exist for quick smoke runs while
  // developing; the published figures use the defaults.
  const blobMiB = intEnv('BENCH_BLOB_MIB', 256, 1);
  const chunkMiB = intEnv('BENCH_CHUNK_MIB', 8, 1);
  return {
    targets: parseTargets(process.env.BENCH_TARGETS),
    blobBytes: blobMiB * MiB,
    chunkBytes: Math.min(chunkMiB, blobMiB) * MiB,
    images: intEnv('BENCH_IMAGES', 160, 1),
    imageWorkers: 16,
    layerBytes: 16 * KiB,
    manifestConnections: 32,
    manifestDurationSec: intEnv('BENCH_DURATION', 10, 1),
    embedded: flagEnv('BENCH_EMBEDDED'),
    adminDatabaseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
    skipBuild: flagEnv('BENCH_SKIP_BUILD'),
    distributionBin: process.env.BENCH_DISTRIBUTION_BIN || '/usr/bin/docker-registry',
    distributionCache: parseCache(process.env.BENCH_DISTRIBUTION_CACHE),
    webhooks: onUnlessDisabled('BENCH_WEBHOOKS'),
    redisBin: process.env.BENCH_REDIS_BIN || '/usr/bin/redis-server',
    webhookDurationSec: intEnv('BENCH_WEBHOOK_DURATION', intEnv('BENCH_DURATION', 10, 1), 1),
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
