import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type FileHandle, mkdir, open, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseDigest } from '@berth/core';

const READ_CHUNK = 256 * 1024;

/**
 * This process's spool directory under `root`, emptied: `<host>-<pid>`, so that processes
 * sharing a DATA_DIR never touch each other's fills. What a killed process left (its own
 * earlier directory, or one of a process of this host that is gone) is removed.
 */
export async function prepareSpool(root: string): Promise<string> {
  const prefix = `${hostname()}-`;
  const own = join(root, `${prefix}${process.pid}`);
  await mkdir(root, { recursive: true });
  for (const entry of await readdir(root)) {
    const pid = entry.startsWith(prefix) ? Number(entry.slice(prefix.length)) : NaN;
    if (Number.isInteger(pid) && (pid === process.pid || !alive(pid))) await rm(join(root, entry), { recursive: true, force: true });
  }
  await mkdir(own);
  return own;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * One blob on its way from upstream into the cache, whatever number of clients it serves.
 * Bytes land in a local spool file as they arrive, hashed on the way; each client reads
 * the spool at its own pace (`reader`), so a slow client neither holds memory nor slows
 * the others, and one that goes away takes nothing with it. The last byte is released only
 * once the whole blob matched its digest: a blob that turns out wrong is never delivered
 * whole, and every reader fails instead. The spool goes when the fill is over and no
 * reader needs it any more.
 */
export class BlobFill extends EventEmitter {
  private written = 0;
  private state: 'filling' | 'verified' | 'failed' = 'filling';
  private failure?: Error;
  private readers = 0;
  private ended = false;
  private readonly hash;

  private constructor(
    readonly digest: string,
    readonly size: number,
    private readonly file: FileHandle,
    private readonly path: string,
  ) {
    super();
    this.setMaxListeners(0);
    this.hash = createHash(parseDigest(digest).algorithm);
  }

  /** `spoolDir`: from prepareSpool. */
  static async create(spoolDir: string, digest: string, size: number): Promise<BlobFill> {
    const path = join(spoolDir, randomUUID());
    return new BlobFill(digest, size, await open(path, 'w+'), path);
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Copies `body` into the spool; resolves once the bytes are verified, rejects (and fails every reader) otherwise. */
  async fill(body: AsyncIterable<Buffer>): Promise<void> {
    try {
      for await (const chunk of body) {
        if (this.written + chunk.length > this.size) throw new Error(`upstream sent more than the ${this.size} bytes it announced for ${this.digest}`);
        this.hash.update(chunk);
        await this.file.write(chunk, 0, chunk.length, this.written);
        this.written += chunk.length;
        this.emit('progress');
      }
      if (this.written !== this.size) throw new Error(`upstream sent ${this.written} of the ${this.size} bytes of ${this.digest}`);
      const actual = `${parseDigest(this.digest).algorithm}:${this.hash.digest('hex')}`;
      if (actual !== this.digest) throw new Error(`upstream sent bytes for ${this.digest} whose digest is ${actual}: nothing was cached`);
      this.state = 'verified';
      this.emit('progress');
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.state = 'failed';
      this.emit('progress');
      throw this.failure;
    }
  }

  /** The verified bytes from the spool, for storing them. */
  spooled(): Readable {
    return this.reader(0, this.size);
  }

  /** The bytes [start, start + length) as they arrive; errors when the fill fails. */
  reader(start: number, length: number): Readable {
    this.readers++;
    let offset = start;
    const end = start + length;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.readers--;
      void this.cleanUp();
    };
    const fill = this;
    const stream = new Readable({
      highWaterMark: READ_CHUNK,
      read() {
        fill.readInto(this, offset, end).then(
          (n) => {
            if (n === null) return;
            offset += n;
          },
          (err) => this.destroy(err),
        );
      },
      destroy(err, callback) {
        release();
        callback(err);
      },
    });
    stream.once('end', release);
    return stream;
  }

  /** Ends the fill: once no reader is left, the spool is removed. */
  finish(): void {
    this.ended = true;
    void this.cleanUp();
  }

  /** Pushes the next bytes at `offset` into `stream` once there are some; null when it pushed the end. */
  private async readInto(stream: Readable, offset: number, end: number): Promise<number | null> {
    if (offset >= end) {
      stream.push(null);
      return null;
    }
    for (;;) {
      if (this.state === 'failed') throw this.failure;
      // The last byte waits for the digest check.
      const available = this.state === 'verified' ? this.size : Math.min(this.written, this.size - 1);
      if (available > offset) {
        const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, end - offset, available - offset));
        const { bytesRead } = await this.file.read(buffer, 0, buffer.length, offset);
        stream.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
        return bytesRead;
      }
      await new Promise<void>((resolve) => this.once('progress', resolve));
    }
  }

  private async cleanUp(): Promise<void> {
    if (!this.ended || this.readers > 0) return;
    this.ended = false;
    await this.file.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}
