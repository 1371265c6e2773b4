import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { FileTooLargeError, type StorageWriter } from '../storage-driver.js';
import type { S3Bucket } from './s3-bucket.js';
import { pieceNames, stagingPrefix, stateKey, type StagedFile } from './staged-file.js';

/**
 * Writes a staged file (see StagedFile) piece by piece. Bytes gather in memory until
 * they fill a part, which is then stored, so a writer holds about two parts at most
 * whatever the body's size. `commit` stores what does not fill a part as the tail and
 * then the record naming every piece: from then on any process sees the new size.
 */
export class S3Writer implements StorageWriter {
  private pending: Buffer[];
  private pendingBytes: number;

  constructor(
    private readonly bucket: S3Bucket,
    private readonly key: string,
    private readonly partSize: number,
    private readonly maxSize: number,
    /** The record last committed; its pieces that the next record drops are deleted then. */
    private committed: StagedFile | null,
    private readonly parts: string[],
    carried: Buffer,
  ) {
    this.pending = carried.length ? [carried] : [];
    this.pendingBytes = carried.length;
  }

  get size(): number {
    return this.parts.length * this.partSize + this.pendingBytes;
  }

  async write(source: Readable): Promise<void> {
    // A failed body keeps what arrived before the failure: a commit would still store it.
    for await (const chunk of source) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      // Found here, not when the pieces are assembled into more parts than S3 allows.
      if (this.size + bytes.length > this.maxSize) throw new FileTooLargeError(this.key, this.maxSize);
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
      if (this.pendingBytes >= this.partSize) await this.storeFullParts();
    }
  }

  async commit(): Promise<void> {
    const prefix = stagingPrefix(this.key);
    let tail: string | null = null;
    if (this.pendingBytes > 0) {
      tail = `tail-${randomUUID()}`;
      await this.bucket.put(prefix + tail, Buffer.concat(this.pending, this.pendingBytes));
    }
    const record: StagedFile = { size: this.size, partSize: this.partSize, parts: [...this.parts], tail };
    await this.bucket.put(stateKey(this.key), Buffer.from(JSON.stringify(record)));
    const kept = new Set(pieceNames(record));
    const obsolete = this.committed ? pieceNames(this.committed).filter((name) => !kept.has(name)) : [];
    this.committed = record;
    await this.bucket.deleteKeys(obsolete.map((name) => prefix + name));
  }

  async cancel(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    await this.bucket.deleteKeys([this.key, ...(await this.bucket.listKeys(stagingPrefix(this.key))), stateKey(this.key)]);
  }

  private async storeFullParts(): Promise<void> {
    let bytes = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [bytes];
    while (bytes.length >= this.partSize) {
      // Unique names: a part rewritten after a truncation never replaces one a record still names.
      const name = `part-${String(this.parts.length).padStart(5, '0')}-${randomUUID()}`;
      await this.bucket.put(stagingPrefix(this.key) + name, bytes.subarray(0, this.partSize));
      this.parts.push(name);
      bytes = bytes.subarray(this.partSize);
      this.pendingBytes = bytes.length;
    }
    // A copy of the remainder: a view would keep the whole joined buffer alive.
    this.pending = bytes.length ? [Buffer.from(bytes)] : [];
  }
}
