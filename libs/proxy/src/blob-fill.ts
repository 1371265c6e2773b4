import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type FileHandle, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseDigest } from '@berth/core';

const READ_CHUNK = 1024 * 1024;
/** Upstream bytes waiting for the spool before the download is paused. */
const MAX_PENDING = 8 * 1024 * 1024;
/** The most recently written bytes kept in memory for the clients reading at the head of a fill. */
const WINDOW = 8 * 1024 * 1024;

/** A spool directory of another host untouched this long belongs to a process that is gone. */
const FOREIGN_SPOOL_MAX_AGE_MS = 24 * 3600_000;

/**
 * This process's spool directory under `root`, emptied: `<host>-<pid>`, so that processes
 * sharing a DATA_DIR never touch each other's fills. What a killed process left is
 * removed: its own earlier directory, one of a process of this host that is gone, and one
 * of another host (a restarted container) untouched for a day.
 */
export async function prepareSpool(root: string): Promise<string> {
  const prefix = `${hostname()}-`;
  const own = join(root, `${prefix}${process.pid}`);
  await mkdir(root, { recursive: true });
  for (const entry of await readdir(root)) {
    const pid = entry.startsWith(prefix) ? Number(entry.slice(prefix.length)) : NaN;
    const gone = Number.isInteger(pid)
      ? pid === process.pid || !alive(pid)
      : Date.now() - (await stat(join(root, entry)).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > FOREIGN_SPOOL_MAX_AGE_MS;
    if (gone) await rm(join(root, entry), { recursive: true, force: true });
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
 * the others, and one that goes away takes nothing with it. The last byte of every range
 * is released only once the whole blob matched its digest: no client ever receives all it
 * asked for of a blob that turns out wrong; every reader fails instead. The spool goes when the fill is over and no
 * reader needs it any more.
 */
export class BlobFill extends EventEmitter {
  private written = 0;
  private arrived = 0;
  private state: 'filling' | 'verified' | 'failed' = 'filling';
  private failure?: Error;
  private readers = 0;
  private ended = false;
  private closed = false;
  private readonly hash;
  /** The chunks that arrived last (about WINDOW bytes, ending at `arrived`, the unwritten ones included): clients at the head read them from memory. */
  private window: Buffer[] = [];
  private windowStart = 0;
  private windowBytes = 0;

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
    // Another host's start may have taken it for abandoned (idle for a day).
    await mkdir(spoolDir, { recursive: true });
    const path = join(spoolDir, randomUUID());
    return new BlobFill(digest, size, await open(path, 'w+'), path);
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Bytes received from upstream so far. */
  get received(): number {
    return this.arrived;
  }

  /**
   * Copies `body` into the spool; resolves once the bytes are verified, rejects (and fails
   * every reader) otherwise. Chunks that arrive while a write is under way go out together
   * in the next one (one writev), and the body is paused while MAX_PENDING bytes wait.
   */
  async fill(body: Readable): Promise<void> {
    try {
      await this.copy(body);
      if (this.written !== this.size) throw new Error(`upstream sent ${this.written} of the ${this.size} bytes of ${this.digest}`);
      const actual = `${parseDigest(this.digest).algorithm}:${this.hash.digest('hex')}`;
      if (actual !== this.digest) throw new Error(`upstream sent bytes for ${this.digest} whose digest is ${actual}: nothing was cached`);
      this.state = 'verified';
      // All of it is in the spool now: the window's memory goes.
      this.window = [];
      this.windowStart = this.size;
      this.windowBytes = 0;
      this.emit('progress');
    } catch (err) {
      body.destroy();
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.state = 'failed';
      this.emit('progress');
      throw this.failure;
    }
  }

  private copy(body: Readable): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending: Buffer[] = [];
      let pendingBytes = 0;
      let writing = false;
      let ended = false;
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      const pump = async () => {
        if (writing) return;
        writing = true;
        try {
          while (pending.length && !settled) {
            const batch = pending.splice(0);
            const bytes = pendingBytes;
            pendingBytes = 0;
            if (body.isPaused()) body.resume();
            const { bytesWritten } = await this.file.writev(batch, this.written);
            if (bytesWritten !== bytes) throw new Error(`the spool took ${bytesWritten} of ${bytes} bytes`);
            this.written += bytes;
            this.emit('progress');
          }
        } catch (err) {
          return settle(err);
        } finally {
          writing = false;
        }
        if (ended) settle();
      };
      body.on('data', (chunk: Buffer) => {
        this.arrived += chunk.length;
        if (this.arrived > this.size) return settle(new Error(`upstream sent more than the ${this.size} bytes it announced for ${this.digest}`));
        this.hash.update(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        this.remember(chunk);
        this.emit('progress');
        if (pendingBytes >= MAX_PENDING) body.pause();
        void pump();
      });
      body.on('end', () => {
        ended = true;
        if (!writing && !pending.length) settle();
      });
      body.on('error', (err) => settle(err));
      body.on('close', () => ended || settle(new Error(`upstream broke off after ${this.arrived} of the ${this.size} bytes of ${this.digest}`)));
    });
  }

  /** The spool file, holding exactly the blob once verified (the store may take it: readers keep their descriptor). */
  get spoolFile(): string {
    return this.path;
  }

  /** The verified bytes from the spool, for storing them. */
  spooled(): Readable {
    return this.reader(0, this.size);
  }

  /**
   * The bytes [start, start + length) as they arrive; errors when the fill fails, and when
   * its consumer asks for nothing for `idleMs` (a client that stopped reading must not keep
   * the spool). The range's last byte comes only once the whole blob matched its digest.
   */
  reader(start: number, length: number, idleMs?: number): Readable {
    if (this.closed) return new Readable({ read() { this.destroy(new Error('the fill is over')); } });
    this.readers++;
    let offset = start;
    const end = start + length;
    let released = false;
    let idle: NodeJS.Timeout | undefined;
    const release = () => {
      clearTimeout(idle);
      if (released) return;
      released = true;
      this.readers--;
      this.cleanUp();
    };
    const fill = this;
    const stream = new Readable({
      highWaterMark: READ_CHUNK,
      read() {
        clearTimeout(idle);
        fill.next(offset, end).then(
          (chunk) => {
            if (chunk === null) return void this.push(null);
            // Before the push: a push may ask for the next read at once.
            offset += chunk.length;
            this.push(chunk);
            if (idleMs !== undefined) {
              idle = setTimeout(() => stream.destroy(new Error(`the client took nothing for ${idleMs / 1000} s`)), idleMs);
              idle.unref();
            }
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
    this.cleanUp();
  }

  private remember(chunk: Buffer): void {
    this.window.push(chunk);
    this.windowBytes += chunk.length;
    // What leaves the window is in the spool already: only written chunks go.
    while (this.window.length > 1 && this.windowBytes - this.window[0].length >= WINDOW && this.windowStart + this.window[0].length <= this.written) {
      const dropped = this.window.shift()!;
      this.windowStart += dropped.length;
      this.windowBytes -= dropped.length;
    }
  }

  /** The bytes from `offset` (before `limit`) of the window's chunk that holds it, without a copy; undefined when the window does not. */
  private fromWindow(offset: number, limit: number): Buffer | undefined {
    if (offset < this.windowStart) return undefined;
    let position = this.windowStart;
    for (const chunk of this.window) {
      const chunkEnd = position + chunk.length;
      if (chunkEnd > offset) return chunk.subarray(offset - position, Math.min(limit, chunkEnd) - position);
      position = chunkEnd;
    }
    return undefined;
  }

  /** The next bytes at `offset` (before `end`) once there are some; null at the end. */
  private async next(offset: number, end: number): Promise<Buffer | null> {
    for (;;) {
      if (this.state === 'failed') throw this.failure;
      if (offset >= end && this.state === 'verified') return null;
      // A range's last byte (the end of an empty one) waits for the digest check. The window
      // holds what arrived, written or not; the spool only what was written.
      const held = (known: number) => (this.state === 'verified' ? end : Math.min(known, end - 1));
      if (held(this.arrived) > offset) {
        const recent = this.fromWindow(offset, Math.min(offset + READ_CHUNK, held(this.arrived)));
        if (recent) return recent;
      }
      const available = held(this.written);
      if (available > offset) {
        const buffer = Buffer.allocUnsafe(Math.min(offset + READ_CHUNK, available) - offset);
        const { bytesRead } = await this.file.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) throw new Error(`the spool of ${this.digest} ended early`);
        return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
      await new Promise<void>((resolve) => this.once('progress', resolve));
    }
  }

  private cleanUp(): void {
    if (!this.ended || this.readers > 0 || this.closed) return;
    this.closed = true;
    this.window = [];
    // Gone already when the store took the file (adoptLocalFile).
    void this.file
      .close()
      .catch(() => undefined)
      .then(() => rm(this.path, { force: true }))
      .catch(() => undefined);
  }
}
