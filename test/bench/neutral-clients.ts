/**
 * The measuring clients for the large pushes, the pull and manifest GET: curl and
 * wrk, each in its own process, as independent reviewers use them (a client inside
 * the bench's node process caps at a few hundred MB/s and shares its event loop
 * with the bookkeeping). Without them the bench falls back to undici / autocannon
 * and says so.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import type { LargeBlob } from './blob-data.js';
import type { BenchConfig } from './config.js';
import { RegistryClient } from './registry-client.js';
import { MANIFEST_ACCEPT } from './small-images.js';
import type { RunningTarget } from './target.js';

const execFileAsync = promisify(execFile);

export interface Clients {
  /** The large pushes and the pull (curl uploads from files written before the servers start). */
  pull: 'curl' | 'undici';
  manifestGet: 'wrk' | 'autocannon';
  /** Printed with the results: which clients measured, and why a fallback was used. */
  notes: string[];
}

export function pickClients(config: BenchConfig): Clients {
  const pull = existsSync(config.curlBin) ? 'curl' : 'undici';
  const manifestGet = existsSync(config.wrkBin) ? 'wrk' : 'autocannon';
  const notes = [
    pull === 'curl'
      ? 'large pushes: curl -T from files, one process per request; pull: curl -o /dev/null, its own time_total'
      : `large pushes and pull: ${config.curlBin} not found, FALLBACK to the in-process undici client (caps at a few hundred MB/s)`,
    manifestGet === 'wrk'
      ? `manifest GET: wrk -t${wrkThreads()} -c${config.manifestConnections}, its own latency percentiles`
      : `manifest GET: ${config.wrkBin} not found (apt-get install wrk), FALLBACK to autocannon inside the bench process`,
  ];
  return { pull, manifestGet, notes };
}

/** One wrk thread per core: the load generator gets the same share of the machine whatever the server. */
const wrkThreads = () => Math.max(1, cpus().length);

export interface PullResult {
  bytes: number;
  seconds: number;
  /** Time to first byte: curl's time_starttransfer (undici: until the answer's headers). */
  ttfbSeconds: number;
}

/** Times one blob GET; the bytes go to /dev/null (the caller checks their digest separately, untimed). */
export async function timedPull(config: BenchConfig, clients: Clients, target: RunningTarget, repo: string, digest: string): Promise<PullResult> {
  const url = `${target.baseUrl}/v2/${repo}/blobs/${digest}`;
  if (clients.pull === 'undici') {
    return withClient(target, async (client) => {
      const started = performance.now();
      let ttfbSeconds = 0;
      const { bytes } = await client.pullBlob(repo, digest, () => (ttfbSeconds = (performance.now() - started) / 1000));
      return { bytes, seconds: (performance.now() - started) / 1000, ttfbSeconds };
    });
  }
  const auth = target.authorization ? ['-H', `Authorization: ${target.authorization}`] : [];
  const format = '%{http_code} %{size_download} %{time_total} %{time_starttransfer}';
  const { stdout } = await execFileAsync(config.curlBin, ['-sS', '-o', '/dev/null', '-w', format, ...auth, url]);
  const [status, bytes, seconds, ttfb] = stdout.trim().split(' ');
  if (status !== '200') throw new Error(`curl GET ${new URL(url).pathname} answered ${status}`);
  return { bytes: Number(bytes), seconds: Number(seconds), ttfbSeconds: Number(ttfb) };
}

/** One curl request; the body (if any) from `file`, the answer's body discarded. */
async function curl(
  config: BenchConfig,
  target: RunningTarget,
  method: string,
  url: string,
  expect: number,
  file?: string,
  headers: string[] = [],
): Promise<string | undefined> {
  const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code} %header{location}', '-X', method];
  if (target.authorization) args.push('-H', `Authorization: ${target.authorization}`);
  // No "Expect: 100-continue" round trip before each body: docker does not send it either.
  const body = file ? ['-T', file, '-H', 'Content-Type: application/octet-stream', '-H', 'Expect:'] : ['--data-binary', ''];
  for (const header of headers) args.push('-H', header);
  const { stdout } = await execFileAsync(config.curlBin, [...args, ...body, url]);
  const [status, location] = stdout.trim().split(' ');
  if (Number(status) !== expect) throw new Error(`curl ${method} ${new URL(url).pathname} answered ${status}, expected ${expect}`);
  return location ? new URL(location, `${target.baseUrl}/`).toString() : undefined;
}

const withDigest = (location: string | undefined, digest: string) => {
  if (!location) throw new Error('upload answer carries no Location header');
  return RegistryClient.withDigest(location, digest);
};

export async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

/** POST, then one PUT ?digest= with the whole blob. Returns the seconds taken (curl start-ups included). */
export async function timedPushMonolithic(config: BenchConfig, clients: Clients, target: RunningTarget, repo: string, blob: LargeBlob, files: string[]): Promise<number> {
  if (clients.pull === 'undici') return withClient(target, (client) => timed(() => client.pushLargeMonolithic(repo, blob)));
  return timed(async () => {
    const location = await curl(config, target, 'POST', `${target.baseUrl}/v2/${repo}/blobs/uploads/`, 202);
    await curl(config, target, 'PUT', withDigest(location, blob.digest), 201, files[0]);
  });
}

/** POST, one PATCH per file with Content-Range (following Location each time), then an empty PUT ?digest=. */
export async function timedPushChunked(
  config: BenchConfig,
  clients: Clients,
  target: RunningTarget,
  repo: string,
  blob: LargeBlob,
  files: string[],
): Promise<number> {
  if (clients.pull === 'undici') return withClient(target, (client) => timed(() => client.pushLargeChunked(repo, blob, config.chunkBytes)));
  return timed(async () => {
    let location = await curl(config, target, 'POST', `${target.baseUrl}/v2/${repo}/blobs/uploads/`, 202);
    for (const [i, file] of files.entries()) {
      if (!location) throw new Error('PATCH answer carries no Location header');
      const start = i * config.chunkBytes;
      const end = Math.min(start + config.chunkBytes, blob.size) - 1;
      location = await curl(config, target, 'PATCH', location, 202, file, [`Content-Range: ${start}-${end}`]);
    }
    await curl(config, target, 'PUT', withDigest(location, blob.digest), 201);
  });
}

async function withClient<T>(target: RunningTarget, work: (client: RegistryClient) => Promise<T>): Promise<T> {
  const client = new RegistryClient(target.baseUrl, target.authorization);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

export interface ManifestLoad {
  client: 'wrk' | 'autocannon';
  /** null when any request failed: a throughput with errors is not a figure. */
  requestsPerSec: number | null;
  p50Ms: number;
  p99Ms: number | null;
  ok: number;
  errors: number;
  /** Failures by kind: "non2xx" (wrk) or the status (autocannon), and socket errors. */
  errorsByKind: Record<string, number>;
  durationSec: number;
}

function finish(client: ManifestLoad['client'], ok: number, errorsByKind: Record<string, number>, durationSec: number, p50Ms: number, p99Ms: number): ManifestLoad {
  for (const [kind, count] of Object.entries(errorsByKind)) if (count === 0) delete errorsByKind[kind];
  const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0);
  return {
    client,
    requestsPerSec: errors === 0 ? Math.round(ok / durationSec) : null,
    p50Ms,
    p99Ms: errors === 0 ? p99Ms : null,
    ok,
    errors,
    errorsByKind,
    durationSec: Math.round(durationSec * 10) / 10,
  };
}

/** Manifest GET by tag, round-robin over `paths`, `config.manifestConnections` connections for `durationSec`. */
export async function manifestLoad(
  config: BenchConfig,
  clients: Clients,
  target: RunningTarget,
  paths: string[],
  durationSec: number,
): Promise<ManifestLoad> {
  const headers: Record<string, string> = { Accept: MANIFEST_ACCEPT, ...(target.authorization ? { Authorization: target.authorization } : {}) };
  return clients.manifestGet === 'wrk'
    ? wrkLoad(config, target.baseUrl, paths, headers, durationSec)
    : autocannonLoad(config, target.baseUrl, paths, headers, durationSec);
}

/**
 * wrk with a script that pre-formats one request per tag and cycles through them,
 * and reports its summary on one line: requests, duration (µs), non-2xx/3xx answers,
 * socket errors, and its latency percentiles (µs).
 */
function wrkScript(paths: string[], headers: Record<string, string>): string {
  const lua = (s: string) => JSON.stringify(s); // ASCII only, so a JSON string is a Lua string
  const headerTable = Object.entries(headers).map(([k, v]) => `[${lua(k)}] = ${lua(v)}`).join(', ');
  return `
local paths = { ${paths.map(lua).join(', ')} }
local prepared = {}
local index = 0
init = function(args)
  for i, path in ipairs(paths) do prepared[i] = wrk.format("GET", path, { ${headerTable} }) end
end
request = function()
  index = index % #prepared + 1
  return prepared[index]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_WRK %d %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;
}

async function wrkLoad(config: BenchConfig, baseUrl: string, paths: string[], headers: Record<string, string>, durationSec: number): Promise<ManifestLoad> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-wrk-'));
  try {
    const script = join(dir, 'manifests.lua');
    await writeFile(script, wrkScript(paths, headers));
    const args = ['-t', String(wrkThreads()), '-c', String(config.manifestConnections), '-d', `${durationSec}s`, '--timeout', '5s', '-s', script, baseUrl];
    const { stdout } = await execFileAsync(config.wrkBin, args, { timeout: (durationSec + 30) * 1000 });
    const line = stdout.split('\n').find((l) => l.startsWith('BENCH_WRK '));
    if (!line) throw new Error(`wrk printed no summary:\n${stdout.slice(-1000)}`);
    const [requests, durationUs, non2xx, connect, read, write, timeout, p50Us, p99Us] = line.split(' ').slice(1).map(Number);
    // wrk's own "Non-2xx or 3xx responses" line must agree with the script's count.
    const printed = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
    if ((printed ? Number(printed[1]) : 0) !== non2xx) throw new Error(`wrk's Non-2xx line disagrees with its summary: ${line}`);
    const ms = (us: number) => Math.round(us / 100) / 10;
    return finish('wrk', requests - non2xx, { non2xx, connect, read, write, timeout }, durationUs / 1e6, ms(p50Us), ms(p99Us));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function autocannonLoad(config: BenchConfig, baseUrl: string, paths: string[], headers: Record<string, string>, durationSec: number): Promise<ManifestLoad> {
  let next = 0;
  const result = await autocannon({
    url: baseUrl,
    connections: config.manifestConnections,
    duration: durationSec,
    headers,
    // Socket errors in the thousands mean the server is gone: stop rather than hammer a dead port.
    bailout: 1000,
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] }) }],
  });
  const errorsByKind: Record<string, number> = { connection: result.errors };
  let ok = 0;
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) {
    if (status === '200') ok += stat.count ?? 0;
    else errorsByKind[status] = stat.count ?? 0;
  }
  return finish('autocannon', ok, errorsByKind, result.duration, result.latency.p50, result.latency.p99);
}
