import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PathNotFoundError, type StorageWriter } from './storage-driver.js';

// Large buffers let the write stream batch many small socket chunks into one writev.
const HIGH_WATER_MARK = 1024 * 1024;

/**
 * Holds no file descriptor between calls: every `write` opens the file for
 * appending and closes it when the body ends, so a writer the caller abandons
 * leaks nothing and a later writer (in any process) sees exactly the file.
 */
export class FilesystemWriter implements StorageWriter {
  private written: number;

  constructor(
    private readonly file: string,
    private readonly path: string,
    initialSize: number,
  ) {
    this.written = initialSize;
  }

  get size(): number {
    return this.written;
  }

  async write(source: Readable): Promise<void> {
    try {
      await pipeline(source, createWriteStream(this.file, { flags: 'a', highWaterMark: HIGH_WATER_MARK }));
    } finally {
      // Ask the file rather than count: a failed body drops whatever the stream still
      // buffered, and what did land must count so the upload can resume right after it.
      this.written = (await fs.stat(this.file)).size;
    }
  }

  async commit(): Promise<void> {
    // Written bytes are in the file once each body ends, visible to any process. No
    // fsync per chunk: `move` syncs the file once when the finished blob moves in,
    // and the final digest check catches a session torn by a power cut.
    try {
      await fs.access(this.file);
    } catch {
      throw new PathNotFoundError(this.path);
    }
  }

  async cancel(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}
