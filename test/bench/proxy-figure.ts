/**
 * Figure 8: the pull-through cache. A plain Distribution 2.8 (no auth) is the upstream;
 * Berth with a proxy namespace `hub` over it, and Distribution 2.8 in proxy mode
 * (`proxy.remoteurl`) over it, pull a layer from it. Per round and server, a fresh random
 * layer (with a tiny image manifest) is pushed upstream, pulled directly from the upstream,
 * then through the proxy: cold (not cached: the proxy goes upstream), and once the proxy
 * has stored it, cached; the cached pull is compared with a pull of a pushed blob from the
 * same server (Berth: an ordinary namespace; Distribution: the upstream, a plain
 * Distribution). All pulls with the bench's neutral client (curl).
 *
 * 8d/8e repeat the direct and cold pulls with the upstream behind a bandwidth-limited link
 * (rate-limited-link.ts, BENCH_PROXY_LINK_MIBPS), as Docker Hub is behind a network link:
 * the direct pull goes through the link, and so do the proxies' fetches (a second proxy
 * namespace in the same Berth, a second Distribution proxy), with layers of their own.
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
import { startRateLimitedLink, type RateLimitedLink } from './rate-limited-link.js';
import { RegistryClient } from './registry-client.js';
import { RssSampler, treeRssMiB, type RssReport } from './rss.js';
import { imageManifest, OCI_MANIFEST } from './small-images.js';
import { fetchToken, startBerth } from './target-berth.js';
import { startDistribution } from './target-distribution.js';
import type { RunningTarget } from './target.js';

/** Berth's proxy namespace over the upstream. */
const PROXY_NAMESPACE = 'hub';
/** Berth's proxy namespace over the upstream through the rate-limited link (8d/8e). */
const LINK_NAMESPACE = 'hub-link';
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

/** 8d/8e: a round with the upstream behind the rate-limited link (the direct pull and the proxy's fetches). */
export interface ProxyLinkRound {
  round: number;
  /** The repository upstream (its own layer: nothing is shared with the loopback rounds). */
  repository: string;
  digest: string;
  /** Straight from the upstream through the link. */
  direct: ProxyPull;
  /** Through the proxy, which fetches from the upstream through the link. */
  cold: ProxyPull;
  /** From the end of the cold pull until the proxy had the blob stored. */
  cachedAfterSec: number;
  /**
   * Bytes the link carried from the upstream from the start of the cold pull until the blob
   * was stored, in layers: 1 = the proxy fetched the layer once.
   */
  upstreamFetches: number;
  rssBeforeMiB: number | null;
  coldRss: RssReport;
  ratios: {
    /** cold / direct throughput over the link (target >= 0.9). */
    coldThroughput: number;
    /** cold / direct time to first byte over the link (target <= 2). */
    coldTtfb: number;
  };
}

export interface ProxySubject {
  name: ProxySubjectName;
  label: string;
  /** What the cached pull is compared with. */
  localBaseline: string;
  rounds: ProxyRound[];
  /** 8d/8e (empty when BENCH_PROXY_LINK_MIBPS=0). */
  linkRounds: ProxyLinkRound[];
}

export interface ProxyFigures {
  layerMiB: number;
  /** The upstream server, e.g. "Distribution 2.8.2". */
  upstream: string;
  /** The rate-limited link of 8d/8e, null when BENCH_PROXY_LINK_MIBPS=0. */
  link: { MiBps: number; burstKiB: number } | null;
  subjects: ProxySubject[];
  /** Berth's process tree over all of figure 8 (its VmHWM is reset at each cold pull, so only the sampled maximum is kept). */
  berthMaxSampledRssMiB: number | null;
}

export type ProxyResult =
  | { status: 'ok'; notes: string[]; figures: ProxyFigures }
  | { status: 'skipped'; notes: string[]; error: string }
  | { status: 'failed'; notes: string[]; error: string; figures: ProxyFigures };

/** One proxy over one upstream URL: Berth's proxy namespace, or a Distribution in proxy mode. */
interface ProxyPath {
  /** The proxy, with the Authorization its pulls carry. */
  target: RunningTarget;
  /** The proxy's name for an upstream repository. */
  nameOf(repository: string): string;
  /** Resolves once the proxy has stored `blob` of `repository`, so the next pull is served from its cache. */
  waitCached(repository: string, blob: LargeBlob): Promise<void>;
}

/** A server under figure 8 and how to drive it. */
interface Subject {
  spec: ProxySubject;
  /** Over the upstream on loopback (8a–8c). */
  loopback: ProxyPath;
  /** Over the upstream through the rate-limited link (8d/8e), null without it. */
  link: ProxyPath | null;
  /** The cached pull's baseline, timed. */
  localPull(round: number, repository: string, blob: LargeBlob): Promise<PullResult>;
}

/** The rate-limited link and the upstream as seen through it (for the direct pulls of 8d/8e). */
interface Link {
  link: RateLimitedLink;
  upstream: RunningTarget;
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
const linkRepository = (round: number, subject: ProxySubjectName) => `bench/proxy-link-r${round}-${subject}`;
const localRepository = (round: number, subject: ProxySubjectName) => `bench/proxy-local-r${round}-${subject}`;

function asFigure(pull: PullResult, bytes: number, what: string): ProxyPull {
  if (pull.bytes !== bytes) throw new Error(`${what} returned ${pull.bytes} bytes, expected ${bytes}`);
  return { MiBps: round1(bytes / MiB / pull.seconds), ttfbMs: round2(pull.ttfbSeconds * 1000), seconds: pull.seconds };
}

/** The image pushed straight to the upstream (untimed), then its writes flushed. */
async function pushUpstream(upstream: RunningTarget, repository: string, image: LayerImage): Promise<void> {
  const client = new RegistryClient(upstream.baseUrl);
  try {
    await client.pushSmallTwoStep(repository, image.config);
    await client.pushLargeMonolithic(repository, image.layer);
    await client.putManifest(repository, TAG, OCI_MANIFEST, image.manifest);
  } finally {
    await client.close();
  }
  await flushWrites();
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

/** Berth's count of fills of proxy namespace `namespace` with `outcome` (stored, failed), from /metrics. */
async function berthFills(baseUrl: string, namespace: string, outcome: 'stored' | 'failed'): Promise<number> {
  const headers = process.env.METRICS_TOKEN ? { authorization: `Bearer ${process.env.METRICS_TOKEN}` } : undefined;
  const res = await request(`${baseUrl}/metrics`, { headers, headersTimeout: 5_000, bodyTimeout: 5_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`Berth's /metrics answered ${res.statusCode}`);
  const line = text
    .split('\n')
    .find((l) => l.startsWith('berth_proxy_fill_seconds_count{') && l.includes(`namespace="${namespace}"`) && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.trim().split(/\s+/).pop()) : 0;
}

async function createProxyNamespace(berth: RunningTarget, name: string, upstreamUrl: string): Promise<void> {
  const res = await fetch(`${berth.baseUrl}/api/v1/namespaces`, {
    method: 'POST',
    headers: { authorization: berth.authorization!, 'content-type': 'application/json' },
    body: JSON.stringify({ name, kind: 'proxy', visibility: 'public', upstream: { url: upstreamUrl, tagTtlSeconds: 300 } }),
  });
  if (res.status !== 201) throw new Error(`POST /api/v1/namespaces (proxy ${name}) answered ${res.status}: ${(await res.text()).slice(0, 400)}`);
}

interface ColdPull {
  cold: ProxyPull;
  cachedAfterSec: number;
  rssBeforeMiB: number | null;
  coldRss: RssReport;
}

/**
 * Through `path`: the manifest (untimed, checked), then the layer, timed, not cached yet (the
 * proxy's process tree watched during it), then the wait until the proxy has stored it.
 */
async function coldPull(config: BenchConfig, clients: Clients, path: ProxyPath, repository: string, image: LayerImage): Promise<ColdPull> {
  const { layer } = image;
  const name = path.nameOf(repository);
  const proxyClient = new RegistryClient(path.target.baseUrl, path.target.authorization);
  try {
    // The manifest first, as a client pulls it before its layers (untimed).
    const manifestDigest = await proxyClient.getManifestDigest(name, TAG);
    const pushed = smallBlob(image.manifest).digest;
    if (manifestDigest !== pushed) throw new Error(`manifest ${name}:${TAG} came back as ${manifestDigest}, pushed ${pushed}`);
  } finally {
    await proxyClient.close();
  }

  const pid = path.target.server.pid;
  const rssBeforeMiB = treeRssMiB(pid);
  const sampler = new RssSampler(pid);
  sampler.start();
  let pull: PullResult;
  let coldRss: RssReport;
  try {
    pull = await timedPull(config, clients, path.target, name, layer.digest);
  } finally {
    coldRss = sampler.stop();
  }
  const cold = asFigure(pull, layer.size, 'cold pull');
  const coldEnded = performance.now();
  await path.waitCached(repository, layer);
  const cachedAfterSec = round2((performance.now() - coldEnded) / 1000);
  await flushWrites();
  return { cold, cachedAfterSec, rssBeforeMiB, coldRss };
}

/** Untimed, after the timed pulls: the proxy's cache must hold the upstream's bytes. */
async function checkCached(path: ProxyPath, repository: string, blob: LargeBlob): Promise<void> {
  const name = path.nameOf(repository);
  const client = new RegistryClient(path.target.baseUrl, path.target.authorization);
  try {
    const check = await client.pullBlob(name, blob.digest);
    if (check.digest !== blob.digest) throw new Error(`cached pull of ${name} returned ${check.digest}, expected ${blob.digest}`);
  } finally {
    await client.close();
  }
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
  const path = subject.loopback;
  await pushUpstream(upstream, repository, image);
  const direct = asFigure(await timedPull(config, clients, upstream, repository, layer.digest), layer.size, 'direct pull');
  const { cold, cachedAfterSec, rssBeforeMiB, coldRss } = await coldPull(config, clients, path, repository, image);
  const cached = asFigure(await timedPull(config, clients, path.target, path.nameOf(repository), layer.digest), layer.size, 'cached pull');
  await checkCached(path, repository, layer);
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
}

/**
 * 8d/8e, one server, one round, with the upstream behind the link: push upstream (untimed,
 * straight to the upstream, not through the link), direct pull through the link, cold pull
 * through the proxy (whose upstream URL is the link), then the cached copy checked (untimed).
 */
async function linkRound(
  config: BenchConfig,
  clients: Clients,
  upstream: RunningTarget,
  link: Link,
  subject: Subject,
  round: number,
  image: LayerImage,
  log: (line: string) => void,
): Promise<ProxyLinkRound> {
  const { layer } = image;
  const repository = linkRepository(round, subject.spec.name);
  const path = subject.link!;
  await pushUpstream(upstream, repository, image);
  const direct = asFigure(await timedPull(config, clients, link.upstream, repository, layer.digest), layer.size, 'direct pull over the link');
  const downBefore = link.link.counters.down;
  const { cold, cachedAfterSec, rssBeforeMiB, coldRss } = await coldPull(config, clients, path, repository, image);
  const upstreamFetches = round2((link.link.counters.down - downBefore) / layer.size);
  await checkCached(path, repository, layer);

  const result: ProxyLinkRound = {
    round,
    repository,
    digest: layer.digest,
    direct,
    cold,
    cachedAfterSec,
    upstreamFetches,
    rssBeforeMiB,
    coldRss,
    ratios: { coldThroughput: round2(cold.MiBps / direct.MiBps), coldTtfb: round2(cold.ttfbMs / direct.ttfbMs) },
  };
  log(
    `8. round ${round}, ${subject.spec.label}, over the ${link.link.bytesPerSec / MiB} MiB/s link: direct ${direct.MiBps} MiB/s (TTFB ${direct.ttfbMs} ms); ` +
      `cold ${cold.MiBps} MiB/s (TTFB ${cold.ttfbMs} ms) = ${result.ratios.coldThroughput.toFixed(2)}x, TTFB ${result.ratios.coldTtfb.toFixed(2)}x; ` +
      `cached after ${cachedAfterSec}s; the link carried ${upstreamFetches} layers from the upstream meanwhile; ` +
      `RSS ${rssBeforeMiB ?? '-'} MiB before the cold pull, peak ${coldRss.peakHwmMiB ?? '-'} MiB during it`,
  );
  return result;
}

/** Berth's proxy namespace `namespace` as a path: names under it, stored once its fill counter moves. */
function berthPath(berth: RunningTarget, target: RunningTarget, namespace: string): ProxyPath {
  let coldPulls = 0;
  return {
    target,
    nameOf: (repository) => `${namespace}/${repository}`,
    waitCached: async () => {
      const expected = ++coldPulls;
      await waitFor(`Berth to store the blob (${namespace})`, berth, async () => {
        if ((await berthFills(berth.baseUrl, namespace, 'failed')) > 0) {
          throw new Error(`Berth failed to store a blob from upstream (berth_proxy_fill_seconds{namespace="${namespace}",outcome="failed"})`);
        }
        return (await berthFills(berth.baseUrl, namespace, 'stored')) >= expected;
      });
    },
  };
}

/** A Distribution in proxy mode as a path: upstream names, stored once the blob is linked in the repository. */
function distributionPath(proxy: RunningTarget & { storageDir: string }): ProxyPath {
  return {
    target: proxy,
    nameOf: (repository) => repository,
    waitCached: (repository, blob) => {
      const link = join(proxy.storageDir, 'docker/registry/v2/repositories', repository, '_layers/sha256', blob.digest.slice('sha256:'.length), 'link');
      return waitFor(`${proxy.server.label} to store the blob`, proxy, () => access(link).then(() => true, () => false));
    },
  };
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

  const withLink = config.proxyLinkBytesPerSec > 0;
  const figures: ProxyFigures = { layerMiB: config.proxyLayerBytes / MiB, upstream: 'Distribution', link: null, subjects: [], berthMaxSampledRssMiB: null };
  const started = performance.now();
  let scope: Scope | undefined;
  let berthSampler: RssSampler | undefined;
  try {
    // Every layer digested before any server starts, so no timed step pays for it.
    // The link's rounds have layers of their own: Berth stores a digest once, whatever the namespace.
    const names: ProxySubjectName[] = [...config.proxyAuth.map((mode) => `berth-${mode}` as const), 'distribution-proxy'];
    const variants = withLink ? (['proxy', 'proxy-link'] as const) : (['proxy'] as const);
    const images = new Map<string, LayerImage>();
    for (let round = 1; round <= config.rounds; round++) {
      for (const variant of variants) {
        for (const name of names) images.set(`${variant}/${round}/${name}`, layerImage(`berth-bench/${variant}/round-${round}/${name}`, config.proxyLayerBytes));
      }
    }
    log(`${images.size} layers of ${figures.layerMiB} MiB digested in ${((performance.now() - started) / 1000).toFixed(1)}s`);

    scope = new Scope('proxy');
    const upstream = await startDistribution(config, scope, { label: 'upstream Distribution' });
    figures.upstream = upstream.label;
    let link: Link | null = null;
    if (withLink) {
      const limited = await startRateLimitedLink(scope, upstream.baseUrl, config.proxyLinkBytesPerSec);
      link = { link: limited, upstream: { ...upstream, baseUrl: limited.url } };
      figures.link = { MiBps: limited.bytesPerSec / MiB, burstKiB: Math.round(limited.burstBytes / 1024) };
    }
    const distributionProxy = await startDistribution(config, scope, { proxyRemoteUrl: upstream.baseUrl, label: 'Distribution (proxy)' });
    const distributionLinkProxy = link
      ? await startDistribution(config, scope, { proxyRemoteUrl: link.link.url, label: 'Distribution (proxy over the link)' })
      : null;
    // Basic first: the admin API takes it; the bearer token is fetched once the proxy namespaces exist.
    const { target: berth, admin } = await startBerth(config, scope, {
      mode: { database: 'postgres', auth: 'basic' },
      repositories: [],
      label: 'Berth (proxy)',
      env: { PROXY_ALLOW_PRIVATE_TARGETS: 'true' },
    });
    await createProxyNamespace(berth, PROXY_NAMESPACE, upstream.baseUrl);
    if (link) await createProxyNamespace(berth, LINK_NAMESPACE, link.link.url);
    log(
      `upstream ${upstream.label} at ${upstream.baseUrl}; Berth at ${berth.baseUrl} (pid ${berth.server.pid}) with proxy namespace ${PROXY_NAMESPACE}; ` +
        `${distributionProxy.label} proxy at ${distributionProxy.baseUrl} (pid ${distributionProxy.server.pid})`,
    );
    if (link && distributionLinkProxy) {
      log(
        `8d/8e: a ${figures.link!.MiBps} MiB/s link (burst ${figures.link!.burstKiB} KiB) at ${link.link.url} in front of the upstream; ` +
          `Berth's proxy namespace ${LINK_NAMESPACE} and ${distributionLinkProxy.label} proxy at ${distributionLinkProxy.baseUrl} (pid ${distributionLinkProxy.server.pid}) over it`,
      );
    }
    notes.push(
      `upstream: ${upstream.label}, filesystem storage, no auth, on this machine`,
      `Berth: a separate instance (Postgres, filesystem storage), public proxy namespace ${PROXY_NAMESPACE} (PROXY_ALLOW_PRIVATE_TARGETS=true), pulls as the administrator`,
      `${distributionProxy.label} in proxy mode (proxy.remoteurl, filesystem storage, no auth)`,
      `a fresh ${figures.layerMiB} MiB random layer per round and server; the manifest is pulled through the proxy (untimed) before the layer`,
      ...(figures.link
        ? [
            `8d/8e: the upstream behind a ${figures.link.MiBps} MiB/s link (a TCP forwarder in the bench process, one token bucket per direction shared by all connections, burst ${figures.link.burstKiB} KiB, no added latency); ` +
              `direct pulls through it, Berth's proxy namespace ${LINK_NAMESPACE} and a second ${distributionProxy.label} proxy fetching through it; layers of their own`,
          ]
        : ['8d/8e: off (BENCH_PROXY_LINK_MIBPS=0)']),
    );

    const subjects: Subject[] = [];
    for (const mode of config.proxyAuth) {
      const name = `berth-${mode}` as const;
      const rounds = Array.from({ length: config.rounds }, (_, i) => i + 1);
      const authorization =
        mode === 'basic'
          ? berth.authorization!
          : `Bearer ${await fetchToken(berth.baseUrl, admin, [
              ...rounds.map((r) => `${PROXY_NAMESPACE}/${upstreamRepository(r, name)}`),
              ...rounds.map((r) => localRepository(r, name)),
              ...(link ? rounds.map((r) => `${LINK_NAMESPACE}/${linkRepository(r, name)}`) : []),
            ])}`;
      const target: RunningTarget = { ...berth, authorization };
      subjects.push({
        spec: {
          name,
          label: `Berth proxy, ${authLabel(mode)}`,
          localBaseline: `a blob pushed to an ordinary namespace of the same Berth (${authLabel(mode)})`,
          rounds: [],
          linkRounds: [],
        },
        loopback: berthPath(berth, target, PROXY_NAMESPACE),
        link: link ? berthPath(berth, target, LINK_NAMESPACE) : null,
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
      spec: {
        name: 'distribution-proxy',
        label: `${distributionProxy.label} proxy`,
        localBaseline: `the same blob pulled again from the upstream (a plain ${upstream.label})`,
        rounds: [],
        linkRounds: [],
      },
      loopback: distributionPath(distributionProxy),
      link: distributionLinkProxy ? distributionPath(distributionLinkProxy) : null,
      localPull: (_round, repository, blob) => timedPull(config, clients, upstream, repository, blob.digest),
    });
    figures.subjects = subjects.map((s) => s.spec);

    berthSampler = new RssSampler(berth.server.pid);
    berthSampler.start();
    // Per round: every server on loopback, then every server over the link, so drift lands in both alike.
    for (let round = 1; round <= config.rounds; round++) {
      for (const subject of subjects) {
        if (isInterrupted()) throw new Error('interrupted');
        subject.spec.rounds.push(await subjectRound(config, clients, upstream, subject, round, images.get(`proxy/${round}/${subject.spec.name}`)!, log));
      }
      if (!link) continue;
      for (const subject of subjects) {
        if (isInterrupted()) throw new Error('interrupted');
        subject.spec.linkRounds.push(await linkRound(config, clients, upstream, link, subject, round, images.get(`proxy-link/${round}/${subject.spec.name}`)!, log));
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
