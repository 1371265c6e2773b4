import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { forEachLimited } from '../pool.js';

/** A byte range of a stored object, one part of an object being assembled. */
export interface Piece {
  key: string;
  start: number;
  length: number;
  /** True when the piece is the whole object (it may then be copied as is). */
  whole: boolean;
}

/** S3 allows at most 1000 keys per DeleteObjects, 5 GiB per CopyObject, 10,000 parts per object. */
const DELETE_BATCH = 1000;
export const MAX_COPY_BYTES = 5 * 1024 ** 3;
export const MAX_PARTS = 10_000;
/** Server-side part copies run in parallel; streamed copies hold one socket buffer each. */
const COPY_CONCURRENCY = 8;

/**
 * The S3 operations the driver needs, on full keys in one bucket. Knows nothing of
 * storage paths or of how the driver lays files out.
 */
export class S3Bucket {
  /** Cleared on the first NotImplemented answer (s3rver): pieces are then streamed through. */
  private partCopySupported = true;

  constructor(
    private readonly client: S3Client,
    readonly name: string,
  ) {}

  /** Size and time of the object at `key`, or null when there is none. */
  async head(key: string): Promise<{ size: number; modifiedAt: Date } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date() };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  /**
   * The object's bytes in [start, start + length), or null when there is no object.
   * `length` undefined reads to the end; a start at or past the end gives an empty stream.
   */
  async get(key: string, start = 0, length?: number): Promise<Readable | null> {
    const range = start > 0 || length !== undefined ? `bytes=${start}-${length === undefined ? '' : start + length - 1}` : undefined;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: range }));
      const body = object.Body as Readable;
      // s3rver ignores a range ending at byte 0 (bytes=0-0): never pass on more than asked.
      return length === undefined ? body : Readable.from(limited(body, length));
    } catch (err) {
      if (isMissing(err)) return null;
      if (err.name === 'InvalidRange') return Readable.from([]);
      throw err;
    }
  }

  /** A small object read whole, with its time; null when missing. */
  async getBuffer(key: string): Promise<{ body: Buffer; modifiedAt: Date } | null> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
      const bytes = await object.Body!.transformToByteArray();
      return { body: Buffer.from(bytes), modifiedAt: object.LastModified ?? new Date() };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentLength: body.length }));
  }

  /** Every key starting with `prefix`, across pages. */
  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** What lies directly under `prefix` (which ends in `/`): object names and sub-prefix names. */
  async listChildren(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) names.push(object.Key.slice(prefix.length));
      for (const common of page.CommonPrefixes ?? []) if (common.Prefix) names.push(common.Prefix.slice(prefix.length, -1));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names;
  }

  /** Deletes the keys in batches of 1000; missing keys are not an error. */
  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key }));
      const result = await this.client.send(new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: batch, Quiet: true } }));
      const failed = result.Errors?.find((error) => error.Code !== 'NoSuchKey');
      if (failed) throw new Error(`S3 could not delete ${failed.Key}: ${failed.Code} ${failed.Message ?? ''}`.trim());
    }
  }

  /**
   * Writes the concatenation of `pieces` to `key`, replacing it atomically: a single
   * whole piece is copied server-side, several become a multipart upload of server-side
   * part copies (streamed through this process where the store lacks UploadPartCopy).
   * Every piece but the last must be 5 MiB or more.
   */
  async assemble(key: string, pieces: readonly Piece[]): Promise<void> {
    if (pieces.length === 0) return this.put(key, Buffer.alloc(0));
    if (pieces.length === 1 && pieces[0].whole && pieces[0].length <= MAX_COPY_BYTES) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.name, Key: key, CopySource: this.copySource(pieces[0].key) }));
      return;
    }
    if (pieces.length > MAX_PARTS) throw new Error(`S3 cannot assemble ${pieces.length} pieces into one object (at most ${MAX_PARTS})`);
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.name, Key: key }));
    const etags: string[] = [];
    try {
      await forEachLimited(pieces, COPY_CONCURRENCY, async (piece, index) => {
        etags[index] = await this.copyPart(key, UploadId!, index + 1, piece);
      });
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.name,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
        }),
      );
    } catch (err) {
      // Best effort (s3rver cannot abort): a lifecycle rule on the bucket removes what stays.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.name, Key: key, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  private async copyPart(key: string, uploadId: string, partNumber: number, piece: Piece): Promise<string> {
    const target = { Bucket: this.name, Key: key, UploadId: uploadId, PartNumber: partNumber };
    if (this.partCopySupported) {
      try {
        const copied = await this.client.send(
          new UploadPartCopyCommand({
            ...target,
            CopySource: this.copySource(piece.key),
            CopySourceRange: `bytes=${piece.start}-${piece.start + piece.length - 1}`,
          }),
        );
        return copied.CopyPartResult!.ETag!;
      } catch (err) {
        if (err.name !== 'NotImplemented') throw err;
        this.partCopySupported = false;
      }
    }
    const source = await this.get(piece.key, piece.start, piece.length);
    if (!source) throw new Error(`S3 object ${piece.key} vanished while being copied`);
    const uploaded = await this.client.send(new UploadPartCommand({ ...target, Body: source, ContentLength: piece.length }));
    return uploaded.ETag!;
  }

  private copySource(key: string): string {
    return `${this.name}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }
}

async function* limited(source: Readable, length: number): AsyncGenerator<Buffer> {
  let remaining = length;
  for await (const chunk of source) {
    const bytes = chunk as Buffer;
    if (bytes.length >= remaining) {
      if (remaining > 0) yield bytes.subarray(0, remaining);
      return;
    }
    remaining -= bytes.length;
    yield bytes;
  }
}

/** A missing object (not a missing bucket, which is a configuration error to report). */
function isMissing(err: { name?: string }): boolean {
  return err.name === 'NoSuchKey' || err.name === 'NotFound';
}
