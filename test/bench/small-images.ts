/** The small OCI images of step 4, generated from a seed so every configuration gets identical bytes. */
import { seededBytes, sha256, smallBlob, type SmallBlob } from './blob-data.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** What a pulling client would send: every manifest type we can take. */
export const MANIFEST_ACCEPT = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export interface SmallImage {
  tag: string;
  config: SmallBlob;
  layers: SmallBlob[];
  manifest: Buffer;
  manifestDigest: string;
}

function makeSmallImage(seed: string, index: number, layerBytes: number): SmallImage {
  // Random layers: the server stores them as-is; they need not be real tarballs.
  const layers = [0, 1].map((l) => smallBlob(seededBytes(`${seed}/image-${index}/layer-${l}`, layerBytes)));
  const config = smallBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'org.berth.bench.index': String(index) } },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
  );
  const manifest = imageManifest(config, layers.map((l) => ({ digest: l.digest, size: l.bytes.length })));
  return { tag: `v${index}`, config, layers, manifest, manifestDigest: sha256(manifest) };
}

/** An OCI image manifest over a config blob and layers. */
export function imageManifest(config: SmallBlob, layers: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.bytes.length },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
    }),
  );
}

export function makeSmallImages(seed: string, count: number, layerBytes: number): SmallImage[] {
  return Array.from({ length: count }, (_, i) => makeSmallImage(seed, i, layerBytes));
}
