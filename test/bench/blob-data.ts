/**
 * Test content. Large blobs are never held in memory: they are replayed, 1 MiB
 * at a time, from a small pool of random buffers, so the same bytes can be
 * produced twice (once to digest, once to upload). The randomness comes from a
 * seed, so every configuration receives identical bytes in the same round while
 * each round's content differs from the others'.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { KiB, MiB } from './config.js';

export const CHUNK_BYTES = MiB;
const POOL_SIZE = 4;
/** Stamp granularity: matches common filesystem/dedup block sizes. */
const STAMP_EVERY = 4 * KiB;

export interface LargeBlob {
  size: number;
  digest: string;
  pool: Buffer[];
}

export interface SmallBlob {
  digest: string;
  bytes: Buffer;
}

export const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * Yields chunks [first, first + count) of the blob. Each chunk is a fresh copy
 * (the HTTP client may still be writing the previous one) of a pool buffer
 * with the chunk index stamped into every 4 KiB block: content stays random
 * (incompressible) and no two blocks of the blob are identical, so neither
 * compression nor block-level dedup can flatter a server.
 */
export function* blobChunks(blob: LargeBlob, first = 0, count = blob.size / CHUNK_BYTES): Generator<Buffer> {
  for (let index = first; index < first + count; index++) {
    const chunk = Buffer.from(blob.pool[index % blob.pool.length]);
    for (let offset = 0; offset < CHUNK_BYTES; offset += STAMP_EVERY) {
      chunk.writeUInt32BE(index, offset);
    }
    yield chunk;
  }
}

/** Pseudo-random bytes determined by `seed`: AES-256-CTR over zeros, keyed by the seed's hash. */
export function seededBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** First pass over the content: digest without materialising the blob. */
export function makeLargeBlob(seed: string, size: number): LargeBlob {
  if (size % CHUNK_BYTES !== 0) throw new Error(`blob size must be a multiple of 1 MiB, got ${size}`);
  const pool = Array.from({ length: POOL_SIZE }, (_, i) => seededBytes(`${seed}/pool-${i}`, CHUNK_BYTES));
  const blob: LargeBlob = { size, digest: '', pool };
  const hash = createHash('sha256');
  for (const chunk of blobChunks(blob)) hash.update(chunk);
  blob.digest = `sha256:${hash.digest('hex')}`;
  return blob;
}

export function smallBlob(bytes: Buffer): SmallBlob {
  return { digest: sha256(bytes), bytes };
}

/**
 * Writes the blob to files of `partBytes` each (one file when it is the blob's size),
 * for a client in another process (curl -T) to upload: written before any server
 * starts, so the page cache serves them and no timed step pays for writing.
 */
export async function writeBlobFiles(blob: LargeBlob, dir: string, name: string, partBytes: number): Promise<string[]> {
  const files: string[] = [];
  const chunksPerPart = partBytes / CHUNK_BYTES;
  for (let first = 0; first * CHUNK_BYTES < blob.size; first += chunksPerPart) {
    const file = join(dir, `${name}.${files.length}`);
    const handle = await open(file, 'w');
    try {
      for (const chunk of blobChunks(blob, first, Math.min(chunksPerPart, blob.size / CHUNK_BYTES - first))) await handle.write(chunk);
    } finally {
      await handle.close();
    }
    files.push(file);
  }
  return files;
}
