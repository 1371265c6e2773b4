/** The measured workload: one round, identical for every configuration. */
import { makeLargeBlob, writeBlobFiles, type LargeBlob, type SmallBlob } from './blob-data.js';
import { MiB, type BenchConfig } from './config.js';
import { manifestLoad, timed, timedPull, timedPushChunked, timedPushMonolithic, type Clients, type ManifestLoad } from './neutral-clients.js';
import { RegistryClient } from './registry-client.js';
import { RssSampler, type RssReport } from './rss.js';
import { makeSmallImages, OCI_MANIFEST, type SmallImage } from './small-images.js';
import type { RunningTarget } from './target.js';

export interface Repositories {
  monolithic: string;
  chunked: string;
  images: string;
}

/** One repository per step and round, so no step or round can benefit from another's blobs. */
export function repositoriesOf(round: number): Repositories {
  return { monolithic: `bench/monolithic-r${round}`, chunked: `bench/chunked-r${round}`, images: `bench/images-r${round}` };
}

/** A round's content: new random bytes per round (from the round's seed), the same for every configuration. */
export interface RoundData {
  round: number;
  repos: Repositories;
  monolithicBlob: LargeBlob;
  chunkedBlob: LargeBlob;
  /** The large blobs as files for curl: the monolithic blob whole, the chunked one in PATCH-sized parts (empty without curl). */
  files: { monolithic: string[]; chunks: string[] };
  images: SmallImage[];
}

export interface RoundFigures {
  round: number;
  monolithicPushMiBps: number;
  chunkedPushMiBps: number;
  pullMiBps: number;
  imagesPerSec: number;
  manifestGet: ManifestLoad;
  /** The server's process tree over the whole round. */
  rss: RssReport;
  /** Whether the server took small blobs in a single POST ?digest= (201). */
  singlePostUpload: boolean;
}

/**
 * Digests are computed (and curl's files written to `fileDir`, when given) here,
 * before any server starts, so no timed step pays for them.
 */
export async function prepareRounds(config: BenchConfig, fileDir: string | null): Promise<RoundData[]> {
  const rounds: RoundData[] = [];
  for (let round = 1; round <= config.rounds; round++) {
    const seed = `berth-bench/round-${round}`;
    const monolithicBlob = makeLargeBlob(`${seed}/monolithic`, config.blobBytes);
    const chunkedBlob = makeLargeBlob(`${seed}/chunked`, config.blobBytes);
    const files = fileDir
      ? {
          monolithic: await writeBlobFiles(monolithicBlob, fileDir, `r${round}-monolithic`, config.blobBytes),
          chunks: await writeBlobFiles(chunkedBlob, fileDir, `r${round}-chunked`, config.chunkBytes),
        }
      : { monolithic: [], chunks: [] };
    const images = makeSmallImages(seed, config.images, config.layerBytes);
    rounds.push({ round, repos: repositoriesOf(round), monolithicBlob, chunkedBlob, files, images });
  }
  return rounds;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * Whether the server completes an upload in one POST ?digest= (201) is learnt
 * from the first small blob, as a client would: until then every blob tries it,
 * and a 202 is completed with a PUT.
 */
class SmallBlobPusher {
  singlePost: boolean | undefined;

  constructor(private readonly client: RegistryClient) {}

  async push(repo: string, blob: SmallBlob): Promise<void> {
    if (this.singlePost === false) return this.client.pushSmallTwoStep(repo, blob);
    this.singlePost = await this.client.pushSmallSinglePost(repo, blob);
  }
}

/** Workers take image indexes from a shared counter until all are pushed. Returns whether single-POST uploads worked. */
export async function pushImagesConcurrently(client: RegistryClient, config: BenchConfig, repo: string, images: SmallImage[]): Promise<boolean> {
  const pusher = new SmallBlobPusher(client);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < images.length; i = next++) {
      const image = images[i];
      for (const blob of [image.config, ...image.layers]) await pusher.push(repo, blob);
      await client.putManifest(repo, image.tag, OCI_MANIFEST, image.manifest);
    }
  };
  await Promise.all(Array.from({ length: config.imageWorkers }, worker));
  return pusher.singlePost === true;
}

/** Not timed: a fast answer is worthless if it is the wrong manifest. */
export async function verifyManifests(client: RegistryClient, repo: string, images: SmallImage[]): Promise<void> {
  for (const image of images) {
    const digest = await client.getManifestDigest(repo, image.tag);
    if (digest !== image.manifestDigest) {
      throw new Error(`manifest ${repo}:${image.tag} came back as ${digest}, pushed ${image.manifestDigest}`);
    }
  }
}

export const manifestPaths = (repo: string, images: SmallImage[]) => images.map((image) => `/v2/${repo}/manifests/${image.tag}`);

export function describeLoad(load: ManifestLoad): string {
  return load.errors === 0
    ? `${load.requestsPerSec} req/s, p99 ${load.p99Ms} ms`
    : `FAILED, ${load.errors} failed requests ${JSON.stringify(load.errorsByKind)}`;
}

/** One round: steps 1-5 on this round's repositories, the server's memory watched throughout. */
export async function runRound(
  target: RunningTarget,
  config: BenchConfig,
  clients: Clients,
  data: RoundData,
  log: (line: string) => void,
): Promise<RoundFigures> {
  const client = new RegistryClient(target.baseUrl, target.authorization);
  const blobMiB = config.blobBytes / MiB;
  const { repos } = data;
  const sampler = new RssSampler(target.server.pid);
  sampler.start();
  try {
    const monolithicSec = await timedPushMonolithic(config, clients, target, repos.monolithic, data.monolithicBlob, data.files.monolithic);
    log(`1. monolithic push ${blobMiB} MiB: ${(blobMiB / monolithicSec).toFixed(1)} MiB/s`);

    const chunkedSec = await timedPushChunked(config, clients, target, repos.chunked, data.chunkedBlob, data.files.chunks);
    log(`2. chunked push ${blobMiB} MiB (${config.chunkBytes / MiB} MiB PATCHes): ${(blobMiB / chunkedSec).toFixed(1)} MiB/s`);

    const pulled = await timedPull(config, clients, target, repos.monolithic, data.monolithicBlob.digest);
    if (pulled.bytes !== config.blobBytes) throw new Error(`pull returned ${pulled.bytes} bytes, expected ${config.blobBytes}`);
    // Untimed, after the timed pull (so round 1 stays the first pull): the server must have sent the pushed bytes.
    const check = await client.pullBlob(repos.monolithic, data.monolithicBlob.digest);
    if (check.digest !== data.monolithicBlob.digest) throw new Error(`pull returned ${check.digest}, expected ${data.monolithicBlob.digest}`);
    log(`3. pull ${blobMiB} MiB (${clients.pull}; sha256 checked untimed): ${(blobMiB / pulled.seconds).toFixed(1)} MiB/s`);

    let singlePostUpload = false;
    const imagesSec = await timed(async () => {
      singlePostUpload = await pushImagesConcurrently(client, config, repos.images, data.images);
    });
    log(`4. ${data.images.length} images by ${config.imageWorkers} clients: ${(data.images.length / imagesSec).toFixed(1)} images/s`);

    await verifyManifests(client, repos.images, data.images);
    const manifestGet = await manifestLoad(config, clients, target, manifestPaths(repos.images, data.images), config.manifestDurationSec);
    log(`5. manifest GET, ${config.manifestConnections} connections, ${manifestGet.durationSec}s (${manifestGet.client}): ${describeLoad(manifestGet)}`);

    const rss = sampler.stop();
    log(`peak RSS in the round: ${rss.peakHwmMiB} MiB (sum of VmHWM over ${rss.processes} process(es)), max sampled ${rss.maxSampledRssMiB} MiB, max sampled PSS ${rss.maxSampledPssMiB} MiB`);
    return {
      round: data.round,
      monolithicPushMiBps: round1(blobMiB / monolithicSec),
      chunkedPushMiBps: round1(blobMiB / chunkedSec),
      pullMiBps: round1(blobMiB / pulled.seconds),
      imagesPerSec: round1(data.images.length / imagesSec),
      manifestGet,
      rss,
      singlePostUpload,
    };
  } finally {
    sampler.stop(); // again, harmlessly, on success: a failed round must not leave the timer sampling
    await client.close();
  }
}
