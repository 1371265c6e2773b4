import type { Readable } from 'node:stream';
import type { StorageWriter } from './storage-driver.js';

/** A file as the chunks it was written in; reads slice them, never concatenate. */
export interface StoredFile {
  chunks: Buffer[];
  size: number;
  modifiedAt: Date;
}

export function emptyFile(): StoredFile {
  return { chunks: [], size: 0, modifiedAt: new Date() };
}

/** Writes to whatever file is at `path` when each body starts, like appending to a real file. */
export class InMemoryWriter implements StorageWriter {
  private written: number;

  constructor(
    private readonly files: Map<string, StoredFile>,
    private readonly path: string,
    initialSize: number,
  ) {
    this.written = initialSize;
  }

  get size(): number {
    return this.written;
  }

  async write(source: Readable): Promise<void> {
    let file = this.files.get(this.path);
    if (!file) {
      file = emptyFile();
      this.files.set(this.path, file);
    }
    for await (const chunk of source) {
      // Copied because a source may reuse its buffers once we hand control back.
      const bytes = Buffer.from(chunk);
      if (bytes.length === 0) continue;
      file.chunks.push(bytes);
      file.size += bytes.length;
      file.modifiedAt = new Date();
      this.written += bytes.length;
    }
  }

  async commit(): Promise<void> {
    // Every write is already as durable as memory gets.
  }

  async cancel(): Promise<void> {
    this.files.delete(this.path);
  }
}
