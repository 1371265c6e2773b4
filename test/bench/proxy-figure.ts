/**
 * Figure 8: the pull-through cache. A plain Distribution 2.8 (no auth) is the upstream;
 * Berth with a proxy namespace `hub` over it, and Distribution 2.8 in proxy mode
 * (`proxy.remoteurl`) over it, pull a layer from it. Per round and server, a fresh random
 * layer (with a tiny image manifest) is pushed upstream, pulled directly from the upstream,
 * then through the proxy: cold (not cached: the proxy goes upstream), and once the proxy
 * has stored it, cached; the cached pull is compared with a pull of a pushed blob from the
 * same server (Berth: an ordinary namespace; Distribution: the upstream, a plain
 * Distribution). All pulls with the bench's neutral client (curl).
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { request } from 'undici';
import { makeLargeBlob, smallBlob, type LargeBlob, type SmallBlob } from './blob-data.js';
import { errorMessage, isInterrupted, Scope } from './cleanup.js';
import { distributionInstalled, MiB, type BenchConfig, type BerthMode } from './config.js';
import { timedPull, type Clients, type PullResult } from './neutral-clients.js';
import { RegistryClient } from './registry-client.js';
import { RssSampler, treeRssMiB, type RssReport } from './rss.js';
import { imageManifest, OCI_MANIFEST } from './small-images.js';
import { fetchToken, startBerth } from './target-berth.js';
import { startDistribution } from './target-distribution.js';
import type { RunningTarget } from './target.js';

/** Berth's proxy namespace over the upstream. */
const PROXY_NAMESPACE = 'hub';
const TAG = 'v1';
/** A proxy that has not stored a blob this long after serving it has failed. */
const CACHED_TIMEOUT_MS = 120_000;

const execFileAsync = promisify(execFile);

export type ProxySubjectName = 'berth-bearer' | 'berth-basic' | 'distribution-proxy';

export interface ProxyPull {
  MiBps: number;
  ttfbMs: number;
  seconds: number;
}

export interface ProxyRound {
  round: number;
  /** The repository upstream (Distribution's proxy serves it under the same name, Berth under hub/). */
  repository: string;
  digest: string;
  /** Straight from the upstream, right after the push. */
  direct: ProxyPull;
  /** Through the proxy, not cached yet: the proxy fetches from upstream while it answers. */
  cold: ProxyPull;
  /** The same blob through the proxy again, once stored. */
  cached: ProxyPull;
  /** The cached pull's baseline: a pushed blob pulled from the same server software (see `localBaseline`). */
  local: ProxyPull;
  /** From the end of the cold pull until the proxy had the blob stored. */
  cachedAfterSec: number;
  /** The proxy's process tree just before the cold pull (sum of VmRSS). */
  rssBeforeMiB: number | null;
  /** The proxy's process tree during the cold pull alone. */
  coldRss: RssReport;
  ratios: {
    /** cold / direct throughput (target >= 0.9). */
    coldThroughput: number;
    /** cold / direct time to first byte (target <= 2). */
    coldTtfb: number;
    /** cached / local throughput (about 1). */
    cachedThroughput: number;
  };
}

export interface ProxySubject {
  name: ProxySubjectName;
  label: string;
  /** What the cached pull is compared with. */
  localBaseline: string;
  rounds: ProxyRound[];
}

export interface ProxyFigures {
  layerMiB: number;
  /** The upstream server, e.g. "Distribution 2.8.2". */
  upstream: string;
  subjects: ProxySubject[];
  /** Berth's process tree over all of figure 8 (its VmHWM is reset at each cold pull, so only the sampled maximum is kept). */
  berthMaxSampledRssMiB: number | null;
}

export type ProxyResult =
  | { status: 'ok'; notes: string[]; figures: ProxyFigures }
  | { status: 'skipped'; notes: string[]; error: string }
  | { status: 'failed'; notes: string[]; error: string; figures: ProxyFigures };

/** A server under figure 8 and how to drive it. */
interface Subject {
  spec: ProxySubject;
  /** The proxy, with the Authorization its pulls carry. */
  target: RunningTarget;
  /** The proxy's name for an upstream repository. */
  nameOf(repository: string): string;
  /** Resolves once the proxy has stored `blob` of `repository`, so the next pull is served from its cache. */
  waitCached(repository: string, blob: LargeBlob): Promise<void>;
  /** The cached pull's baseline, timed. */
  localPull(round: number, repository: string, blob: LargeBlob): Promise<PullResult>;
}

interface LayerImage {
  layer: LargeBlob;
  config: SmallBlob;
  manifest: Buffer;
}

const round1 = (value: number) => Math.round(value * 10) / 10;
const round2 = (value: number) => Math.round(value * 100) / 100;

/** A layer of random bytes and a tiny image manifest referencing it, from a seed: identical in every run. */
function layerImage(seed: string, bytes: number): LayerImage {
  const layer = makeLargeBlob(seed, bytes);
  // The seed in the config makes it differ too, so no two rounds or servers share any blob.
  const config = smallBlob(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, config: { Labels: { 'org.berth.bench.seed': seed } } })),
  );
  return { layer, config, manifest: imageManifest(config, [{ digest: layer.digest, size: layer.size }]) };
}

const upstreamRepository = (round: number, subject: ProxySubjectName) => `bench/proxy-r${round}-${subject}`;
const localRepository = (round: number, subject: ProxySubjectName) => `bench/proxy-local-r${round}-${subject}`;

function asFigure(pull: PullResult, bytes: number, what: string): ProxyPull {
  if (pull.bytes !== bytes) throw new Error(`${what} returned ${pull.bytes} bytes, expected ${bytes}`);
  return { MiBps: round1(bytes / MiB / pull.seconds), ttfbMs: round2(pull.ttfbSeconds * 1000), seconds: pull.seconds };
}

async function pushImage(client: RegistryClient, repository: string, image: LayerImage): Promise<void> {
  await client.pushSmallTwoStep(repository, image.config);
  await client.pushLargeMonolithic(repository, image.layer);
  await client.putManifest(repository, TAG, OCI_MANIFEST, image.manifest);
}

/**
 * sync(1), untimed, after 256 MiB were written (a push, a proxy storing a blob): otherwise
 * their writeback lands in the next timed pull, as stalls of the server's stat and open.
 */
async function flushWrites(): Promise<void> {
  await execFileAsync('sync', [], { timeout: 60_000 }).catch(() => undefined);
}

async function waitFor(what: string, target: RunningTarget, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + CACHED_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (target.server.hasExited()) throw new Error(`${target.server.label} exited: ${target.server.outputTail().slice(-2000) || '(no output)'}`);
    if (await probe()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${CACHED_TIMEOUT_MS / 1000}s waiting for ${what}`);
}

/** Berth's count of fills of the proxy namespace with `outcome` (stored, failed), from /metrics. */
async function berthFills(baseUrl: string, outcome: 'stored' | 'failed'): Promise<number> {
  const headers = process.env.METRICS_TOKEN ? { authorization: `Bearer ${process.env.METRICS_TOKEN}` } : undefined;
  const res = await request(`${baseUrl}/metrics`, { headers, headersTimeout: 5_000, bodyTimeout: 5_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`Berth's /metrics answered ${res.statusCode}`);
  const line = text
    .split('\n')
    .find((l) => l.startsWith('berth_proxy_fill_seconds_count{') && l.includes(`namespace="${PROXY_NAMESPACE}"`) && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.trim().split(/\s+/).pop()) : 0;
}

async function createProxyNamespace(berth: RunningTarget, upstreamUrl: string): Promise<void> {
  const res = await fetch(`${berth.baseUrl}/api/v1/namespaces`, {
    method: 'POST',
    headers: { authorization: berth.authorization!, 'content-type': 'application/json' },
    body: JSON.stringify({ name: PROXY_NAMESPACE, kind: 'proxy', visibility: 'public', upstream: { url: upstreamUrl, tagTtlSeconds: 300 } }),
  });
  if (res.status !== 201) throw new Error(`POST /api/v1/namespaces (proxy) answered ${res.status}: ${(await res.text()).slice(0, 400)}`);
}

/** One server, one round: push upstream, direct pull, cold pull, cached pull, baseline. */
async function subjectRound(
  config: BenchConfig,
  clients: Clients,
  upstream: RunningTarget,
  subject: Subject,
  round: number,
  image: LayerImage,
  log: (line: string) => void,
): Promise<ProxyRound> {
  const { layer } = image;
  const repository = upstreamRepository(round, subject.spec.name);
  const name = subject.nameOf(repository);
  const upstreamClient = new RegistryClient(upstream.baseUrl);
  const proxyClient = new RegistryClient(subject.target.baseUrl, subject.target.authorization);
  try {
    await pushImage(upstreamClient, repository, image);
    await flushWrites();
    const direct = asFigure(await timedPull(config, clients, upstream, repository, layer.digest), layer.size, 'direct pull');

    // The manifest first, as a client pulls it before its layers (untimed).
    const manifestDigest = await proxyClient.getManifestDigest(name, TAG);
    const pushed = smallBlob(image.manifest).digest;
    if (manifestDigest !== pushed) throw new Error(`manifest ${name}:${TAG} came back as ${manifestDigest}, pushed ${pushed}`);

    const pid = subject.target.server.pid;
    const rssBeforeMiB = treeRssMiB(pid);
    const sampler = new RssSampler(pid);
    sampler.start();
    let coldPull: PullResult;
    let coldRss: RssReport;
    try {
      coldPull = await timedPull(config, clients, subject.target, name, layer.digest);
    } finally {
      coldRss = sampler.stop();
    }
    const cold = asFigure(coldPull, layer.size, 'cold pull');
    const coldEnded = performance.now();
    await subject.waitCached(repository, layer);
    const cachedAfterSec = round2((performance.now() - coldEnded) / 1000);
    await flushWrites();

    const cached = asFigure(await timedPull(config, clients, subject.target, name, layer.digest), layer.size, 'cached pull');
    // Untimed, after the timed pulls: the cache must hold the upstream's bytes.
    const check = await proxyClient.pullBlob(name, layer.digest);
    if (check.digest !== layer.digest) throw new Error(`cached pull of ${name} returned ${check.digest}, expected ${layer.digest}`);
    const local = asFigure(await subject.localPull(round, repository, layer), layer.size, 'local pull');

    const result: ProxyRound = {
      round,
      repository,
      digest: layer.digest,
      direct,
      cold,
      cached,
      local,
      cachedAfterSec,
      rssBeforeMiB,
      coldRss,
      ratios: {
        coldThroughput: round2(cold.MiBps / direct.MiBps),
        coldTtfb: round2(cold.ttfbMs / direct.ttfbMs),
        cachedThroughput: round2(cached.MiBps / local.MiBps),
      },
    };
    log(
      `8. round ${round}, ${subject.spec.label}: direct ${direct.MiBps} MiB/s (TTFB ${direct.ttfbMs} ms); ` +
        `cold ${cold.MiBps} MiB/s (TTFB ${cold.ttfbMs} ms) = ${result.ratios.coldThroughput.toFixed(2)}x, TTFB ${result.ratios.coldTtfb.toFixed(2)}x; ` +
        `cached after ${cachedAfterSec}s; cached ${cached.MiBps} MiB/s vs local ${local.MiBps} MiB/s = ${result.ratios.cachedThroughput.toFixed(2)}x; ` +
        `RSS ${rssBeforeMiB ?? '-'} MiB before the cold pull, peak ${coldRss.peakHwmMiB ?? '-'} MiB during it`,
    );
    return result;
  } finally {
    await Promise.all([upstreamClient.close(), proxyClient.close()]);
  }
}

/** Runs figure 8 in its own scope (its servers are gone when it returns). Never throws. */
export async function runProxyFigure(config: BenchConfig, clients: Clients, log: (line: string) => void): Promise<ProxyResult> {
  const notes: string[] = [];
  const skip = (error: string): ProxyResult => {
    log(`8. skipped: ${error}`);
    return { status: 'skipped', notes, error };
  };
  if (!config.proxy) return skip('BENCH_PROXY=0');
  if (!distributionInstalled(config)) return skip(`${config.distributionBin} not found (apt-get install docker-registry): it is the upstream`);

  const figures: ProxyFigures = { layerMiB: config.proxyLayerBytes / MiB, upstream: 'Distribution', subjects: [], berthMaxSampledRssMiB: null };
  const started = performance.now();
  let scope: Scope | undefined;
  let berthSampler: RssSampler | undefined;
  try {
    // Every layer digested before any server starts, so no timed step pays for it.
    const names: ProxySubjectName[] = [...config.proxyAuth.map((mode) => `berth-${mode}` as const), 'distribution-proxy'];
    const images = new Map<string, LayerImage>();
    for (let round = 1; round <= config.rounds; round++) {
      for (const name of names) images.set(`${round}/${name}`, layerImage(`berth-bench/proxy/round-${round}/${name}`, config.proxyLayerBytes));
    }
    log(`${images.size} layers of ${figures.layerMiB} MiB digested in ${((performance.now() - started) / 1000).toFixed(1)}s`);

    scope = new Scope('proxy');
    const upstream = await startDistribution(config, scope, { label: 'upstream Distribution' });
    figures.upstream = upstream.label;
    const distributionProxy = await startDistribution(config, scope, { proxyRemoteUrl: upstream.baseUrl, label: 'Distribution (proxy)' });
    // Basic first: the admin API takes it; the bearer token is fetched once the proxy namespace exists.
    const { target: berth, admin } = await startBerth(config, scope, {
      mode: { database: 'postgres', auth: 'basic' },
      repositories: [],
      label: 'Berth (proxy)',
      env: { PROXY_ALLOW_PRIVATE_TARGETS: 'true' },
    });
    await createProxyNamespace(berth, upstream.baseUrl);
    log(
      `upstream ${upstream.label} at ${upstream.baseUrl}; Berth at ${berth.baseUrl} (pid ${berth.server.pid}) with proxy namespace ${PROXY_NAMESPACE}; ` +
        `${distributionProxy.label} proxy at ${distributionProxy.baseUrl} (pid ${distributionProxy.server.pid})`,
    );
    notes.push(
      `upstream: ${upstream.label}, filesystem storage, no auth, on this machine`,
      `Berth: a separate instance (Postgres, filesystem storage), public proxy namespace ${PROXY_NAMESPACE} (PROXY_ALLOW_PRIVATE_TARGETS=true), pulls as the administrator`,
      `${distributionProxy.label} in proxy mode (proxy.remoteurl, filesystem storage, no auth)`,
      `a fresh ${figures.layerMiB} MiB random layer per round and server; the manifest is pulled through the proxy (untimed) before the layer`,
    );

    const subjects: Subject[] = [];
    let berthColdPulls = 0;
    for (const mode of config.proxyAuth) {
      const name = `berth-${mode}` as const;
      const rounds = Array.from({ length: config.rounds }, (_, i) => i + 1);
      const authorization =
        mode === 'basic'
          ? berth.authorization!
          : `Bearer ${await fetchToken(berth.baseUrl, admin, [
              ...rounds.map((r) => `${PROXY_NAMESPACE}/${upstreamRepository(r, name)}`),
              ...rounds.map((r) => localRepository(r, name)),
            ])}`;
      const target: RunningTarget = { ...berth, authorization };
      subjects.push({
        spec: { name, label: `Berth proxy, ${authLabel(mode)}`, localBaseline: `a blob pushed to an ordinary namespace of the same Berth (${authLabel(mode)})`, rounds: [] },
        target,
        nameOf: (repository) => `${PROXY_NAMESPACE}/${repository}`,
        waitCached: async () => {
          const expected = ++berthColdPulls;
          await waitFor('Berth to store the blob', berth, async () => {
            if ((await berthFills(berth.baseUrl, 'failed')) > 0) throw new Error('Berth failed to store a blob from upstream (berth_proxy_fill_seconds{outcome="failed"})');
            return (await berthFills(berth.baseUrl, 'stored')) >= expected;
          });
        },
        localPull: async (round, _repository, blob) => {
          // The same bytes, pushed (untimed): Berth stores them once per digest, so both pulls read the same file.
          const repo = localRepository(round, name);
          const client = new RegistryClient(berth.baseUrl, authorization);
          try {
            await client.pushLargeMonolithic(repo, blob);
          } finally {
            await client.close();
          }
          await flushWrites();
          return timedPull(config, clients, target, repo, blob.digest);
        },
      });
    }
    subjects.push({
      spec: { name: 'distribution-proxy', label: `${distributionProxy.label} proxy`, localBaseline: `the same blob pulled again from the upstream (a plain ${upstream.label})`, rounds: [] },
      target: distributionProxy,
      nameOf: (repository) => repository,
      // Distribution serves from its storage once the blob is linked in the repository.
      waitCached: (repository, blob) => {
        const link = join(distributionProxy.storageDir, 'docker/registry/v2/repositories', repository, '_layers/sha256', blob.digest.slice('sha256:'.length), 'link');
        return waitFor('Distribution to store the blob', distributionProxy, () => access(link).then(() => true, () => false));
      },
      localPull: (_round, repository, blob) => timedPull(config, clients, upstream, repository, blob.digest),
    });
    figures.subjects = subjects.map((s) => s.spec);

    berthSampler = new RssSampler(berth.server.pid);
    berthSampler.start();
    for (let round = 1; round <= config.rounds; round++) {
      for (const subject of subjects) {
        if (isInterrupted()) throw new Error('interrupted');
        subject.spec.rounds.push(await subjectRound(config, clients, upstream, subject, round, images.get(`${round}/${subject.spec.name}`)!, log));
      }
    }
    figures.berthMaxSampledRssMiB = berthSampler.stop().maxSampledRssMiB;
    return { status: 'ok', notes, figures };
  } catch (err) {
    if (berthSampler) figures.berthMaxSampledRssMiB = berthSampler.stop().maxSampledRssMiB;
    const error = isInterrupted() ? 'interrupted' : errorMessage(err);
    log(`8. FAILED: ${error}`);
    return { status: 'failed', notes, error, figures };
  } finally {
    await scope?.close();
    log(`8. done in ${((performance.now() - started) / 1000).toFixed(1)}s (servers stopped)`);
  }
}

const authLabel = (mode: BerthMode['auth']) => (mode === 'bearer' ? 'bearer' : 'Basic');
