import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import { PathNotFoundError, type FileInfo, type StorageDriver, type StorageWriter } from '../storage-driver.js';
import { assertByteRange, assertStoragePath } from '../storage-path.js';
import { MAX_COPY_BYTES, MAX_PARTS, S3Bucket, type Piece } from './s3-bucket.js';
import type { S3Settings } from './s3-settings.js';
import { S3Writer } from './s3.writer.js';
import { parseStagedFile, piecesOf, stagingPrefix, stateKey, type StagedFile } from './staged-file.js';

/** S3's smallest part (but the last); also the smallest piece a writer stores. */
const MIN_PART_SIZE = 5 * 1024 * 1024;
const DEFAULT_PART_SIZE = 10 * 1024 * 1024;
/** Pieces of a file too large for one CopyObject, when it is moved as it is. */
const COPY_RANGE = 1024 ** 3;
const SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Keeps files in an S3 bucket. A file that was moved in (a blob) is one object at
 * `<prefix><path>`, so a presigned URL can serve it. A file being written (an upload)
 * is a staged file of pieces beside it (see StagedFile), so chunks from any process
 * append to it without holding it whole anywhere; `move` assembles the pieces into one
 * object server-side. Where both exist (a crash between the two steps of a move or of
 * a writer replacing an object) the single object wins.
 */
export class S3Driver implements StorageDriver {
  readonly name = 's3';
  /** Every piece of a staged file becomes one part of the object it is moved to. */
  readonly maxFileSize: number;
  private readonly bucket: S3Bucket;
  private readonly presigner: S3Client;
  private readonly prefix: string;
  private readonly partSize: number;

  constructor(private readonly settings: S3Settings) {
    const partSize = settings.partSize ?? DEFAULT_PART_SIZE;
    if (partSize < MIN_PART_SIZE) throw new Error(`S3 part size must be at least ${MIN_PART_SIZE} bytes`);
    this.partSize = partSize;
    this.maxFileSize = Math.min(settings.maxParts ?? MAX_PARTS, MAX_PARTS) * partSize;
    this.prefix = settings.prefix;
    const client = (endpoint?: string) =>
      new S3Client({
        region: settings.region,
        endpoint,
        forcePathStyle: settings.forcePathStyle,
        // The SDK's 50 sockets would cap concurrent streamed pulls (each holds one for as
        // long as its client reads) and starve every other call; an unreachable store must
        // fail a request, not hang it.
        requestHandler: { connectionTimeout: 5000, httpAgent: { maxSockets: 512 }, httpsAgent: { maxSockets: 512 } },
        // Integrity trailers and aws-chunked bodies are not understood by every S3-compatible store.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    const s3 = client(settings.endpoint);
    this.bucket = new S3Bucket(s3, settings.bucket);
    this.presigner = settings.publicEndpoint ? client(settings.publicEndpoint) : s3;
  }

  async stat(path: string): Promise<FileInfo | null> {
    const key = this.key(path);
    const object = await this.bucket.head(key);
    if (object) return object;
    const staged = await this.staged(key);
    return staged && { size: staged.file.size, modifiedAt: staged.modifiedAt };
  }

  async reader(path: string, offset = 0, length?: number): Promise<Readable> {
    const key = this.key(path);
    assertByteRange(offset, length);
    if (length === 0) {
      if (!(await this.stat(path))) throw new PathNotFoundError(path);
      return Readable.from([]);
    }
    const object = await this.bucket.get(key, offset, length);
    if (object) return object;
    const staged = await this.staged(key);
    if (!staged) throw new PathNotFoundError(path);
    const end = length === undefined ? staged.file.size : Math.min(staged.file.size, offset + length);
    return Readable.from(this.readPieces(piecesOf(key, staged.file), offset, end));
  }

  async writer(path: string, offset: number): Promise<StorageWriter> {
    const key = this.key(path);
    assertByteRange(offset, undefined);
    const object = await this.bucket.head(key);
    if (object) return this.stageObject(path, key, object.size, offset);
    const staged = await this.staged(key);
    if (!staged) {
      if (offset > 0) throw new PathNotFoundError(path);
      const writer = new S3Writer(this.bucket, key, this.partSize, this.maxFileSize, null, [], Buffer.alloc(0));
      await writer.commit();
      return writer;
    }
    const { file } = staged;
    if (file.size < offset) throw new PathNotFoundError(path);
    // Whole parts before the offset stay; the bytes from the last of them to the offset
    // (less than a part) are read back to continue from.
    const keptParts = Math.min(Math.floor(offset / file.partSize), file.parts.length);
    const carriedStart = keptParts * file.partSize;
    const carried = offset > carriedStart ? await this.readAll(key, file, carriedStart, offset) : Buffer.alloc(0);
    const writer = new S3Writer(this.bucket, key, file.partSize, this.maxFileSize, file, file.parts.slice(0, keptParts), carried);
    // Drop what lies past the offset now, as a truncating file system would.
    if (offset < file.size) await writer.commit();
    return writer;
  }

  async move(from: string, to: string, length?: number): Promise<void> {
    const source = this.key(from);
    const target = this.key(to);
    if (length !== undefined) assertByteRange(0, length);
    if (source === target) {
      const info = await this.stat(from);
      if (!info || (length !== undefined && info.size !== length)) throw new PathNotFoundError(from);
      return;
    }
    const object = await this.bucket.head(source);
    let pieces: Piece[];
    if (object) {
      pieces = objectPieces(source, object.size);
    } else {
      const staged = await this.staged(source);
      if (!staged) throw new PathNotFoundError(from);
      pieces = piecesOf(source, staged.file);
    }
    if (length !== undefined) {
      const prefix = firstBytes(pieces, length);
      if (!prefix) throw new PathNotFoundError(from);
      pieces = prefix;
    }
    await this.bucket.assemble(target, pieces);
    // The target is complete before anything is removed, so a retried move finds either
    // the source again or the target in place. Records go last: a deletion cut short
    // leaves pieces that a record still names, for a retry or the upload purge to find.
    const leftovers = await Promise.all([this.bucket.listKeys(stagingPrefix(target)), this.bucket.listKeys(stagingPrefix(source))]);
    await this.bucket.deleteKeys([source, ...leftovers.flat(), stateKey(target), stateKey(source)]);
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    // The object or staged file, and everything under the directory of that name.
    const [below, pieces] = await Promise.all([this.bucket.listKeys(`${key}/`), this.bucket.listKeys(stagingPrefix(key))]);
    await this.bucket.deleteKeys([key, ...below, ...pieces, stateKey(key)]);
  }

  /** The objects, and any staged-file record beside them, in DeleteObjects batches: no listing. */
  async deleteMany(paths: readonly string[]): Promise<void> {
    const keys = paths.map((path) => this.key(path));
    await this.bucket.deleteKeys(keys.flatMap((key) => [key, stateKey(key)]));
  }

  async list(prefix: string): Promise<string[]> {
    const names = await this.bucket.listChildren(`${this.key(prefix)}/`);
    // `name~state` and `name~` (its pieces) are the staged file `name`.
    return [...new Set(names.map((name) => name.replace(/~(state)?$/, '')).filter((name) => SEGMENT.test(name)))];
  }

  async redirectUrl(path: string, method: 'GET' | 'HEAD'): Promise<string | null> {
    const key = this.key(path);
    if (!this.settings.redirect) return null;
    const input = { Bucket: this.bucket.name, Key: key };
    const command = method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(this.presigner, command, { expiresIn: this.settings.redirectExpirySeconds });
  }

  private key(path: string): string {
    assertStoragePath(path);
    return this.prefix + path;
  }

  private async staged(key: string): Promise<{ file: StagedFile; modifiedAt: Date } | null> {
    const record = await this.bucket.getBuffer(stateKey(key));
    return record && { file: parseStagedFile(record.body), modifiedAt: record.modifiedAt };
  }

  /** Continues a single object as a staged file: its first `offset` bytes are copied into pieces. */
  private async stageObject(path: string, key: string, size: number, offset: number): Promise<StorageWriter> {
    if (size < offset) throw new PathNotFoundError(path);
    const writer = new S3Writer(this.bucket, key, this.partSize, this.maxFileSize, null, [], Buffer.alloc(0));
    if (offset > 0) await writer.write((await this.bucket.get(key, 0, offset))!);
    await writer.commit();
    await this.bucket.deleteKeys([key]);
    return writer;
  }

  /** Less than a part, so it may be held in memory. */
  private async readAll(key: string, file: StagedFile, start: number, end: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.readPieces(piecesOf(key, file), start, end)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** The bytes in [start, end) of the concatenated pieces, one ranged GET per piece touched. */
  private async *readPieces(pieces: Piece[], start: number, end: number): AsyncGenerator<Buffer> {
    let position = 0;
    for (const piece of pieces) {
      const pieceEnd = position + piece.length;
      if (position >= end) return;
      if (pieceEnd > start) {
        const from = Math.max(start - position, 0);
        const body = await this.bucket.get(piece.key, piece.start + from, Math.min(end, pieceEnd) - position - from);
        if (!body) throw new Error(`S3 object ${piece.key} is missing: the file changed while being read`);
        yield* body;
      }
      position = pieceEnd;
    }
  }
}

/** The pieces holding the first `length` bytes of `pieces` (the last one cut short), or null when they hold fewer. */
function firstBytes(pieces: readonly Piece[], length: number): Piece[] | null {
  const kept: Piece[] = [];
  let remaining = length;
  for (const piece of pieces) {
    if (remaining === 0) break;
    if (piece.length <= remaining) {
      kept.push(piece);
    } else {
      kept.push({ ...piece, length: remaining, whole: false });
    }
    remaining -= kept[kept.length - 1].length;
  }
  return remaining === 0 ? kept : null;
}

/** A whole object as pieces to copy: itself, or ranges when it is too large for one copy. */
function objectPieces(key: string, size: number): Piece[] {
  if (size <= MAX_COPY_BYTES) return [{ key, start: 0, length: size, whole: true }];
  const pieces: Piece[] = [];
  for (let start = 0; start < size; start += COPY_RANGE) {
    pieces.push({ key, start, length: Math.min(COPY_RANGE, size - start), whole: false });
  }
  return pieces;
}
