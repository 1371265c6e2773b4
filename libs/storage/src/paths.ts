import { InvalidPathError } from './storage-driver.js';

// The single place storage paths are built. Inputs were validated by the caller;
// they are re-checked strictly here because a path is what reaches the disk.

const DIGEST = /^(?:(sha256):([a-f0-9]{64})|(sha512):([a-f0-9]{128}))$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** `blobs/<alg>/<first two hex>/<hex>/data`; the two-hex fan-out keeps directories small. */
export function blobDataPath(digest: string): string {
  return `${blobDir(digest)}/data`;
}

/** `blobs/<alg>/<first two hex>/<hex>`: everything stored for one blob, deleted as a whole. */
export function blobDir(digest: string): string {
  const match = DIGEST.exec(digest);
  if (!match) throw new InvalidPathError(digest);
  const algorithm = match[1] ?? match[3];
  const hex = match[2] ?? match[4];
  return `blobs/${algorithm}/${hex.slice(0, 2)}/${hex}`;
}

/** `uploads/<uuid>`: everything belonging to one upload session, deleted as a whole. */
export function uploadDir(uuid: string): string {
  if (!UUID.test(uuid)) throw new InvalidPathError(uuid);
  return `uploads/${uuid}`;
}

/** `uploads/<uuid>/data`: the bytes of an upload in progress. */
export function uploadDataPath(uuid: string): string {
  return `${uploadDir(uuid)}/data`;
}
