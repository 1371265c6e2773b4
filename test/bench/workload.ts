/** The measured workload, identical for every target. */
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { makeLargeBlob, smallBlob, type LargeBlob, type SmallBlob } from './blob-data.js';
import { MiB, type BenchConfig } from './config.js';
import { RegistryClient } from './registry-client.js';
import { RssSampler, type RssReport } from './rss.js';
import { MANIFEST_ACCEPT, makeSmallImage, makeSmallImages, OCI_MANIFEST, type SmallImage } from './small-images.js';
import type { RunningTarget } from './target.js';
import type { WebhookResult } from './webhook-figure.js';

/** One repository per step, so no step can benefit from another's blobs. */
export const REPO = {
  warmup: 'bench/warmup',
  monolithic: 'bench/monolithic',
  chunked: 'bench/chunked',
  images: 'bench/images',
} as const;

export interface WorkloadData {
  monolithicBlob: LargeBlob;
  chunkedBlob: LargeBlob;
  images: SmallImage[];
  warmupBlob: SmallBlob;
  warmupImage: SmallImage;
}

export interface ManifestLoad {
  /** null when any request failed: a throughput with errors is not a figure. */
  requestsPerSec: number | null;
  p50Ms: number;
  p99Ms: number | null;
  ok: number;
  errors: number;
  /** Non-200 answers by status, plus "connection" for socket errors/timeouts. */
  errorsByKind: Record<string, number>;
  durationSec: number;
}

export interface TargetFigures {
  /** Figure 7 (Berth only; absent for other targets): see webhook-figure.ts. */
  webhooks?: WebhookResult;
  monolithicPushMiBps: number;
  chunkedPushMiBps: number;
  pullMiBps: number;
  imagesPerSec: number;
  manifestGet: ManifestLoad;
  /** Server RSS over steps 1-3. */
  rss: RssReport;
  /** Whether the server took small blobs in a single POST ?digest= (201). */
  singlePostUpload: boolean;
}

export function prepareWorkloadData(config: BenchConfig): WorkloadData {
  return {
    monolithicBlob: makeLargeBlob(config.blobBytes),
    chunkedBlob: makeLargeBlob(config.blobBytes),
    images: makeSmallImages(config.images, config.layerBytes),
    warmupBlob: smallBlob(randomBytes(MiB)),
    warmupImage: makeSmallImage(-1, config.layerBytes),
  };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Touches every code path once (uploads both ways, pull, manifest put/get) so
 * lazy initialisation, JIT and connection set-up stay out of the figures. Also
 * learns whether the server supports single-POST uploads, so step 4 does not
 * send every small blob twice to a server that does not.
 */
export async function warmUp(client: RegistryClient, data: WorkloadData): Promise<boolean> {
  const singlePost = await client.pushSmallSinglePost(REPO.warmup, data.warmupBlob);
  await client.pushSmallTwoStep(REPO.warmup, data.warmupBlob);
  const pulled = await client.pullBlob(REPO.warmup, data.warmupBlob.digest);
  if (pulled.digest !== data.warmupBlob.digest) throw new Error('warm-up pull returned different content');
  await pushImage(client, REPO.warmup, data.warmupImage, singlePost);
  await client.getManifestDigest(REPO.warmup, data.warmupImage.tag);
  return singlePost;
}

async function pushImage(client: RegistryClient, repo: string, image: SmallImage, singlePost: boolean) {
  for (const blob of [image.config, ...image.layers]) {
    if (singlePost) await client.pushSmallSinglePost(repo, blob);
    else await client.pushSmallTwoStep(repo, blob);
  }
  await client.putManifest(repo, image.tag, OCI_MANIFEST, image.manifest);
}

/** Workers pull image indexes from a shared counter until all are pushed. */
export async function pushImagesConcurrently(client: RegistryClient, config: BenchConfig, images: SmallImage[], singlePost: boolean) {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < images.length; i = next++) {
      await pushImage(client, REPO.images, images[i], singlePost);
    }
  };
  await Promise.all(Array.from({ length: config.imageWorkers }, worker));
}

/** Not timed: a fast answer is worthless if it is the wrong manifest. */
export async function verifyManifests(client: RegistryClient, images: SmallImage[]): Promise<void> {
  for (const image of images) {
    const digest = await client.getManifestDigest(REPO.images, image.tag);
    if (digest !== image.manifestDigest) {
      throw new Error(`manifest ${REPO.images}:${image.tag} came back as ${digest}, pushed ${image.manifestDigest}`);
    }
  }
}

/** Step 5's load (also figure 7's): manifest GET by tag, round-robin, for `durationSec`. */
export async function manifestLoad(
  target: RunningTarget,
  config: BenchConfig,
  images: SmallImage[],
  durationSec = config.manifestDurationSec,
): Promise<ManifestLoad> {
  const paths = images.map((image) => `/v2/${REPO.images}/manifests/${image.tag}`);
  let next = 0;
  const result = await autocannon({
    url: target.baseUrl,
    connections: config.manifestConnections,
    duration: durationSec,
    headers: { accept: MANIFEST_ACCEPT, ...(target.authorization ? { authorization: target.authorization } : {}) },
    // Socket errors (not HTTP statuses) in the thousands mean the server is
    // gone: stop rather than hammer a dead port for the rest of the duration.
    bailout: 1000,
    // Round-robin over the tags, so one hot tag cannot sit in a tiny cache.
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] }) }],
  });

  const errorsByKind: Record<string, number> = {};
  let ok = 0;
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) {
    if (status === '200') ok += stat.count ?? 0;
    else errorsByKind[status] = stat.count ?? 0;
  }
  if (result.errors > 0) errorsByKind.connection = result.errors;
  const errors = Object.values(errorsByKind).reduce((a, b) => a + b, 0);
  return {
    requestsPerSec: errors === 0 ? round(ok / result.duration, 0) : null,
    p50Ms: result.latency.p50,
    p99Ms: errors === 0 ? result.latency.p99 : null,
    ok,
    errors,
    errorsByKind,
    durationSec: result.duration,
  };
}

export async function runWorkload(
  target: RunningTarget,
  config: BenchConfig,
  data: WorkloadData,
  log: (line: string) => void,
): Promise<TargetFigures> {
  const client = new RegistryClient(target.baseUrl, target.authorization);
  const blobMiB = config.blobBytes / MiB;
  try {
    const singlePostUpload = await warmUp(client, data);
    log(`warm-up done (single-POST upload: ${singlePostUpload ? 'supported' : 'not supported, using POST + PUT'})`);

    const sampler = new RssSampler(target.server.pid);
    sampler.start();
    let rss: RssReport;
    let monolithicSec: number, chunkedSec: number, pullSec: number;
    try {
      monolithicSec = await timed(() => client.pushLargeMonolithic(REPO.monolithic, data.monolithicBlob));
      log(`1. monolithic push ${blobMiB} MiB: ${(blobMiB / monolithicSec).toFixed(1)} MiB/s`);

      chunkedSec = await timed(() => client.pushLargeChunked(REPO.chunked, data.chunkedBlob, config.chunkBytes));
      log(`2. chunked push ${blobMiB} MiB (${config.chunkBytes / MiB} MiB PATCHes): ${(blobMiB / chunkedSec).toFixed(1)} MiB/s`);

      let pulled = { bytes: 0, digest: '' };
      pullSec = await timed(async () => {
        pulled = await client.pullBlob(REPO.monolithic, data.monolithicBlob.digest);
      });
      if (pulled.bytes !== config.blobBytes || pulled.digest !== data.monolithicBlob.digest) {
        throw new Error(`pull returned ${pulled.bytes} bytes with ${pulled.digest}, expected ${data.monolithicBlob.digest}`);
      }
      log(`3. pull ${blobMiB} MiB (sha256 verified): ${(blobMiB / pullSec).toFixed(1)} MiB/s`);
    } finally {
      rss = sampler.stop();
    }
    log(`6. peak RSS during 1-3: ${rss.peakHwmMiB} MiB (VmHWM), max sampled VmRSS ${rss.maxSampledRssMiB} MiB`);

    const imagesSec = await timed(() => pushImagesConcurrently(client, config, data.images, singlePostUpload));
    log(`4. ${data.images.length} images by ${config.imageWorkers} clients: ${(data.images.length / imagesSec).toFixed(1)} images/s`);

    await verifyManifests(client, data.images);
    const manifestGet = await manifestLoad(target, config, data.images);
    log(
      `5. manifest GET, ${config.manifestConnections} connections, ${manifestGet.durationSec}s: ` +
        (manifestGet.errors === 0
          ? `${manifestGet.requestsPerSec} req/s, p99 ${manifestGet.p99Ms} ms`
          : `FAILED, ${manifestGet.errors} non-200/errors ${JSON.stringify(manifestGet.errorsByKind)}`),
    );

    return {
      monolithicPushMiBps: round(blobMiB / monolithicSec),
      chunkedPushMiBps: round(blobMiB / chunkedSec),
      pullMiBps: round(blobMiB / pullSec),
      imagesPerSec: round(data.images.length / imagesSec),
      manifestGet,
      rss,
      singlePostUpload,
    };
  } finally {
    await client.close();
  }
}
