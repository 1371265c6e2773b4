/**
 * Builds small container images on disk without any daemon, for the real-client
 * e2e suites (skopeo, podman, ctr). Everything is written by hand: a ustar
 * archive, gzip via node:zlib, OCI/Docker JSON documents, and an OCI image
 * layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
 * or skopeo's `dir:` layout for a verbatim Docker schema2 image.
 *
 * Each image gets a /hello.txt whose content derives from `seed` (random by
 * default), so two builds never share blobs unless they are asked to.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  /** Tag written into index.json (org.opencontainers.image.ref.name). */
  tag: string;
  /** Digest of the exact manifest bytes (what a registry must report). */
  manifestDigest: string;
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  layers: Descriptor[];
  /** sha256 of each uncompressed layer tar, as listed in config.rootfs.diff_ids. */
  diffIds: string[];
  /** Content written to /hello.txt, handy to assert on after a pull. */
  helloContent: string;
}

export interface BuiltIndex {
  tag: string;
  indexDigest: string;
  index: Descriptor;
  indexBytes: Buffer;
  images: BuiltImage[];
}

export interface ImageOptions {
  /** Number of layers (>= 1). Layer 0 holds /hello.txt, the others /layer-<n>.txt. */
  layers?: number;
  tag?: string;
  /** Makes the content deterministic; two calls with the same seed produce the same blobs. */
  seed?: string;
  platform?: Platform;
}

const REF_NAME = 'org.opencontainers.image.ref.name';

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

// ---------------------------------------------------------------------------
// tar

function writeOctal(header: Buffer, value: number, offset: number, width: number): void {
  // width-1 zero-padded octal digits followed by a NUL, as ustar expects.
  header.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'ascii');
}

function tarHeader(name: string, size: number, type: '0' | '5', mode: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long for this minimal writer: ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  writeOctal(h, mode, 100, 8);
  writeOctal(h, 0, 108, 8); // uid
  writeOctal(h, 0, 116, 8); // gid
  writeOctal(h, size, 124, 12);
  // Fixed mtime keeps layers reproducible for a given seed.
  writeOctal(h, 0, 136, 12);
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  // The checksum is computed with its own field filled with spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

export interface TarEntry {
  name: string; // relative path, e.g. "hello.txt" or "etc/" for a directory
  content?: Buffer | string;
  mode?: number;
}

/** Minimal ustar writer: regular files and directories only, which is all a test layer needs. */
export function createTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (entry.name.endsWith('/')) {
      parts.push(tarHeader(entry.name, 0, '5', entry.mode ?? 0o755));
      continue;
    }
    const body = Buffer.isBuffer(entry.content) ? entry.content : Buffer.from(entry.content ?? '', 'utf8');
    parts.push(tarHeader(entry.name, body.length, '0', entry.mode ?? 0o644));
    parts.push(body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024)); // two zero blocks mark the end of the archive
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// blobs

interface Blob {
  bytes: Buffer;
  digest: string;
}

function blob(bytes: Buffer): Blob {
  return { bytes, digest: sha256(bytes) };
}

/** Deterministic pseudo-random text derived from the seed (not security relevant). */
function seededText(seed: string, label: string): string {
  return `${label} ${createHash('sha256').update(`${seed}/${label}`).digest('hex')}\n`;
}

interface ImageParts {
  config: Blob;
  layers: Blob[];
  diffIds: string[];
  helloContent: string;
  platform: Platform;
}

function buildImageParts(options: ImageOptions): ImageParts {
  const seed = options.seed ?? randomBytes(16).toString('hex');
  const layerCount = options.layers ?? 1;
  if (layerCount < 1) throw new Error('an image needs at least one layer');
  const platform = options.platform ?? { architecture: 'amd64', os: 'linux' };
  const platformLabel = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');

  const helloContent = seededText(seed, `hello ${platformLabel}`);
  const layers: Blob[] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < layerCount; i++) {
    const tar =
      i === 0
        ? createTar([{ name: 'hello.txt', content: helloContent }])
        : createTar([{ name: `layer-${i}.txt`, content: seededText(seed, `layer ${i} ${platformLabel}`) }]);
    diffIds.push(sha256(tar));
    layers.push(blob(gzipSync(tar)));
  }

  // The same config JSON serves OCI and Docker schema2 images.
  const config = {
    created: '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/hello.txt'],
      Labels: { 'berth.test.seed': seed },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `berth test layer ${i}` })),
  };
  return { config: blob(Buffer.from(JSON.stringify(config))), layers, diffIds, helloContent, platform };
}

function manifestFor(parts: ImageParts, flavour: 'oci' | 'docker'): Buffer {
  const oci = flavour === 'oci';
  const manifest = {
    schemaVersion: 2,
    mediaType: oci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest,
    config: {
      mediaType: oci ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig,
      digest: parts.config.digest,
      size: parts.config.bytes.length,
    },
    layers: parts.layers.map((l) => ({
      mediaType: oci ? MEDIA_TYPES.ociLayerGzip : MEDIA_TYPES.dockerLayerGzip,
      digest: l.digest,
      size: l.bytes.length,
    })),
  };
  // Pretty-printed on purpose: registries must store and serve the exact bytes,
  // and whitespace makes any re-serialisation visible as a digest mismatch.
  return Buffer.from(JSON.stringify(manifest, null, 2));
}

function describeImage(parts: ImageParts, manifestBytes: Buffer, flavour: 'oci' | 'docker', tag: string): BuiltImage {
  const oci = flavour === 'oci';
  const manifestDigest = sha256(manifestBytes);
  return {
    tag,
    manifestDigest,
    manifestBytes,
    manifest: {
      mediaType: oci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest,
      digest: manifestDigest,
      size: manifestBytes.length,
      platform: parts.platform,
    },
    config: {
      mediaType: oci ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig,
      digest: parts.config.digest,
      size: parts.config.bytes.length,
    },
    layers: parts.layers.map((l) => ({
      mediaType: oci ? MEDIA_TYPES.ociLayerGzip : MEDIA_TYPES.dockerLayerGzip,
      digest: l.digest,
      size: l.bytes.length,
    })),
    diffIds: parts.diffIds,
    helloContent: parts.helloContent,
  };
}

// ---------------------------------------------------------------------------
// OCI image layout

async function writeBlob(layoutDir: string, b: Blob): Promise<void> {
  const [algorithm, hex] = b.digest.split(':');
  const dir = join(layoutDir, 'blobs', algorithm);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, hex), b.bytes);
}

async function initLayout(dir: string): Promise<{ manifests: Descriptor[] }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  try {
    return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  } catch {
    return { manifests: [] };
  }
}

/** Adds (or replaces) the entry for `tag` in the layout's index.json. */
async function tagInLayout(dir: string, tag: string, descriptor: Descriptor): Promise<void> {
  const index = await initLayout(dir);
  const manifests = (index.manifests ?? []).filter((m) => m.annotations?.[REF_NAME] !== tag);
  const { platform: _platform, ...withoutPlatform } = descriptor;
  manifests.push({ ...withoutPlatform, annotations: { [REF_NAME]: tag } });
  const out = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests };
  await writeFile(join(dir, 'index.json'), JSON.stringify(out, null, 2));
}

async function writeImageBlobs(dir: string, parts: ImageParts, manifestBytes: Buffer): Promise<void> {
  await writeBlob(dir, parts.config);
  for (const layer of parts.layers) await writeBlob(dir, layer);
  await writeBlob(dir, blob(manifestBytes));
}

/**
 * Writes a single-platform OCI image into an OCI image layout at `dir`
 * (creating it, or adding a tag to an existing one). Use it with skopeo as
 * `oci:<dir>:<tag>`.
 */
export async function buildOciLayout(dir: string, options: ImageOptions = {}): Promise<BuiltImage> {
  const tag = options.tag ?? 'latest';
  await initLayout(dir);
  const parts = buildImageParts(options);
  const manifestBytes = manifestFor(parts, 'oci');
  await writeImageBlobs(dir, parts, manifestBytes);
  const image = describeImage(parts, manifestBytes, 'oci', tag);
  await tagInLayout(dir, tag, image.manifest);
  return image;
}

/**
 * Writes a multi-platform OCI image index (linux/amd64 + linux/arm64 by default)
 * into an OCI image layout; index.json's entry for `tag` points at the index,
 * which is what `skopeo copy --all oci:<dir>:<tag> ...` expects.
 */
export async function buildOciIndexLayout(
  dir: string,
  options: Omit<ImageOptions, 'platform'> & { platforms?: Platform[] } = {},
): Promise<BuiltIndex> {
  const tag = options.tag ?? 'latest';
  const seed = options.seed ?? randomBytes(16).toString('hex');
  const platforms = options.platforms ?? [
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux', variant: 'v8' },
  ];
  await initLayout(dir);
  const images: BuiltImage[] = [];
  for (const platform of platforms) {
    const parts = buildImageParts({ ...options, seed, platform });
    const manifestBytes = manifestFor(parts, 'oci');
    await writeImageBlobs(dir, parts, manifestBytes);
    images.push(describeImage(parts, manifestBytes, 'oci', tag));
  }
  const indexBytes = Buffer.from(
    JSON.stringify(
      {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: images.map((i) => i.manifest),
      },
      null,
      2,
    ),
  );
  await writeBlob(dir, blob(indexBytes));
  const index: Descriptor = { mediaType: MEDIA_TYPES.ociIndex, digest: sha256(indexBytes), size: indexBytes.length };
  await tagInLayout(dir, tag, index);
  return { tag, indexDigest: index.digest, index, indexBytes, images };
}

/**
 * Writes a Docker schema2 image in skopeo's `dir:` format (manifest.json plus
 * one file per blob named by its hex digest). `skopeo copy dir:<dir> docker://...`
 * pushes these exact manifest bytes, so the resulting digest is known up front,
 * unlike `--format v2s2`, where skopeo re-serialises the manifest.
 */
export async function buildDockerDir(dir: string, options: ImageOptions = {}): Promise<BuiltImage> {
  await mkdir(dir, { recursive: true });
  const parts = buildImageParts(options);
  const manifestBytes = manifestFor(parts, 'docker');
  await writeFile(join(dir, 'version'), 'Directory Transport Version: 1.1\n');
  await writeFile(join(dir, 'manifest.json'), manifestBytes);
  for (const b of [parts.config, ...parts.layers]) await writeFile(join(dir, b.digest.split(':')[1]), b.bytes);
  return describeImage(parts, manifestBytes, 'docker', options.tag ?? 'latest');
}

/** Reads the manifest descriptors recorded in an OCI layout's index.json (e.g. after a pull). */
export async function readLayoutIndex(dir: string): Promise<Descriptor[]> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  return index.manifests;
}

/** Reads a blob from an OCI layout by digest. */
export async function readLayoutBlob(dir: string, digest: string): Promise<Buffer> {
  const [algorithm, hex] = digest.split(':');
  return readFile(join(dir, 'blobs', algorithm, hex));
}
