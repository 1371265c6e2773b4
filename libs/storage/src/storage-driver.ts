import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * The one contract every blob store implements. Paths are driver-relative,
 * '/'-separated, built only by the services from validated digests and UUIDs
 * (see `paths.ts`); drivers still refuse anything that could escape their root:
 * every method throws InvalidPathError unless each segment matches [A-Za-z0-9._-]+
 * and is neither `.` nor `..`.
 * Bytes always stream: no method takes or returns a whole blob in memory.
 */
export interface StorageDriver {
  readonly name: string;

  /**
   * The most bytes a file written through `writer` may hold (S3: 10,000 parts), or
   * undefined when only the disk limits it. A writer fails with FileTooLargeError
   * rather than pass it, so callers can refuse a body up front instead.
   */
  readonly maxFileSize?: number;

  /** Size and modification time, or null when no file is stored at `path` (a directory prefix is not a file). */
  stat(path: string): Promise<FileInfo | null>;

  /**
   * Streams the content from `offset` (and at most `length` bytes); an offset at or
   * past the end gives an empty stream. Throws PathNotFoundError before any stream
   * exists, and RangeError for a negative or fractional offset or length.
   */
  reader(path: string, offset?: number, length?: number): Promise<Readable>;

  /**
   * Opens a writer that continues after the first `offset` bytes at `path`, as
   * committed by earlier writers (possibly in another process). Offset 0 starts an
   * empty file. Anything stored past `offset` (the tail of a body that failed
   * half-way) is dropped, so a retried chunk lands exactly where it belongs.
   * Throws PathNotFoundError when `path` holds fewer than `offset` bytes.
   * Either way the file exists once this resolves.
   */
  writer(path: string, offset: number): Promise<StorageWriter>;

  /**
   * Moves a committed file; overwrites `to`; the file is durable at `to` once this resolves.
   * With `length`, exactly the first `length` bytes arrive at `to`: anything stored past
   * them (the tail of a body that failed half-way) is dropped, so a content address never
   * holds more than its blob. Throws PathNotFoundError when `from` is missing or holds
   * fewer than `length` bytes.
   */
  move(from: string, to: string, length?: number): Promise<void>;

  /** Removes a file or everything under a directory prefix; missing paths are not an error. */
  delete(path: string): Promise<void>;

  /**
   * Removes the files at `paths`, files that `move` put in place (blobs), in as few
   * requests as the store allows (S3: DeleteObjects, 1000 keys a request, no listing), so
   * a collection freeing thousands of blobs is not thousands of round trips. A file's
   * directory left empty goes with it, as on an object store. Missing files are not an
   * error; every path is checked before anything is deleted; stops at the first failure
   * (what was deleted stays deleted).
   */
  deleteMany(paths: readonly string[]): Promise<void>;

  /** Direct children names (files and directories) under a directory prefix, unordered; [] when missing. */
  list(prefix: string): Promise<string[]>;

  /**
   * A short-lived URL the client may fetch the bytes from directly, or null when
   * this driver serves bytes itself (filesystem, inmemory).
   */
  redirectUrl(path: string, method: 'GET' | 'HEAD'): Promise<string | null>;

  /**
   * Optional zero-copy capability (filesystem, when the native addon is built): opens the
   * bytes [offset, offset + length) of `path`, checked like `reader` (PathNotFoundError,
   * RangeError) before anything is sent. The caller then uses exactly one of the two ways
   * out, which closes the file. Drivers without it (s3, inmemory) only stream.
   */
  openFile?(path: string, offset: number, length: number): Promise<OpenFileRange>;

  /**
   * Optional (filesystem): moves `localFile`, a file of this machine outside the store
   * (the pull-through cache's spool), to `to` when both are on one file system, durable
   * there as after `move`; false when they are not, and the caller writes it through
   * `writer` instead. Drivers without it (s3, inmemory) always take the bytes by `writer`.
   */
  adoptLocalFile?(localFile: string, to: string): Promise<boolean>;
}

export interface OpenFileRange {
  /**
   * Sends the range straight to a plain TCP socket with sendfile(2), off the main thread;
   * rejects on a socket error, a short file or an idle client (see `sendFile`).
   */
  sendTo(socket: Socket, idleTimeoutMs: number): Promise<void>;
  /** The range as a stream, for a socket sendfile cannot write to. */
  stream(): Readable;
}

export interface FileInfo {
  size: number;
  modifiedAt: Date;
}

/**
 * A resumable writer. `write` streams one request body (one at a time; several in
 * sequence append); `commit` makes everything written so far visible, so that a later
 * `writer(path, size)` or reader (here or in another process) continues from `size`
 * (an object store completes its part here). Durability on disk comes with `move`.
 * `cancel` discards the file.
 */
export interface StorageWriter {
  /**
   * Bytes committed before this writer opened plus bytes written through it, including
   * the part of a failed body that was stored, so an upload can resume right after it.
   */
  readonly size: number;
  write(source: Readable): Promise<void>;
  commit(): Promise<void>;
  cancel(): Promise<void>;
}

export class PathNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`path not found: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

export class FileTooLargeError extends Error {
  constructor(
    readonly path: string,
    readonly maxSize: number,
  ) {
    super(`file too large: ${path} may hold at most ${maxSize} bytes`);
    this.name = 'FileTooLargeError';
  }
}

export class InvalidPathError extends Error {
  constructor(readonly path: string) {
    super(`invalid storage path: ${path}`);
    this.name = 'InvalidPathError';
  }
}

export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');
