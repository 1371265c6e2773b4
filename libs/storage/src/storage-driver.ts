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
   * Throws PathNotFoundError when `from` is missing.
   */
  move(from: string, to: string): Promise<void>;

  /** Removes a file or everything under a directory prefix; missing paths are not an error. */
  delete(path: string): Promise<void>;

  /** Direct children names (files and directories) under a directory prefix, unordered; [] when missing. */
  list(prefix: string): Promise<string[]>;

  /**
   * A short-lived URL the client may fetch the bytes from directly, or null when
   * this driver serves bytes itself (filesystem, inmemory).
   */
  redirectUrl(path: string, method: 'GET' | 'HEAD'): Promise<string | null>;
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

export class InvalidPathError extends Error {
  constructor(readonly path: string) {
    super(`invalid storage path: ${path}`);
    this.name = 'InvalidPathError';
  }
}

export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');
