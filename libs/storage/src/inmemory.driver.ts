import { Readable } from 'node:stream';
import { emptyFile, InMemoryWriter, type StoredFile } from './inmemory.writer.js';
import { PathNotFoundError, type FileInfo, type StorageDriver, type StorageWriter } from './storage-driver.js';
import { assertByteRange, assertStoragePath } from './storage-path.js';

/**
 * Keeps files in a flat map keyed by path; directories exist only as prefixes of
 * those keys, the way an object store behaves. For tests and throwaway instances.
 */
export class InMemoryDriver implements StorageDriver {
  readonly name = 'inmemory';
  private readonly files = new Map<string, StoredFile>();

  async stat(path: string): Promise<FileInfo | null> {
    assertStoragePath(path);
    const file = this.files.get(path);
    return file ? { size: file.size, modifiedAt: file.modifiedAt } : null;
  }

  async reader(path: string, offset = 0, length?: number): Promise<Readable> {
    assertStoragePath(path);
    assertByteRange(offset, length);
    const file = this.files.get(path);
    if (!file) throw new PathNotFoundError(path);
    const end = length === undefined ? file.size : Math.min(file.size, offset + length);
    // Snapshot the chunk list: stored buffers are never mutated, so later writes can't leak in.
    return Readable.from(slice([...file.chunks], offset, end), { objectMode: false });
  }

  async writer(path: string, offset: number): Promise<StorageWriter> {
    assertStoragePath(path);
    assertByteRange(offset, undefined);
    if (offset === 0) {
      this.files.set(path, emptyFile());
      return new InMemoryWriter(this.files, path, 0);
    }
    const file = this.files.get(path);
    if (!file || file.size < offset) throw new PathNotFoundError(path);
    this.files.set(path, truncated(file, offset));
    return new InMemoryWriter(this.files, path, offset);
  }

  async move(from: string, to: string, length?: number): Promise<void> {
    assertStoragePath(from);
    assertStoragePath(to);
    if (length !== undefined) assertByteRange(0, length);
    const file = this.files.get(from);
    if (!file || (length !== undefined && file.size < length)) throw new PathNotFoundError(from);
    this.files.delete(from);
    this.files.set(to, length === undefined || file.size === length ? file : truncated(file, length));
  }

  async delete(path: string): Promise<void> {
    assertStoragePath(path);
    this.files.delete(path);
    for (const key of this.files.keys()) {
      if (key.startsWith(`${path}/`)) this.files.delete(key);
    }
  }

  async deleteMany(paths: readonly string[]): Promise<void> {
    for (const path of paths) assertStoragePath(path);
    for (const path of paths) this.files.delete(path);
  }

  async list(prefix: string): Promise<string[]> {
    assertStoragePath(prefix);
    const names = new Set<string>();
    for (const key of this.files.keys()) {
      if (key.startsWith(`${prefix}/`)) names.add(key.slice(prefix.length + 1).split('/', 1)[0]);
    }
    return [...names];
  }

  async redirectUrl(path: string): Promise<string | null> {
    assertStoragePath(path);
    return null;
  }
}

/** Yields the parts of `chunks` that fall within [start, end) as views, without copying. */
function* slice(chunks: Buffer[], start: number, end: number): Generator<Buffer> {
  let position = 0;
  for (const chunk of chunks) {
    if (position >= end) return;
    const chunkEnd = position + chunk.length;
    if (chunkEnd > start) yield chunk.subarray(Math.max(start - position, 0), Math.min(end, chunkEnd) - position);
    position = chunkEnd;
  }
}

/** A copy of `file` holding only its first `size` bytes (stored buffers are never mutated). */
function truncated(file: StoredFile, size: number): StoredFile {
  const chunks: Buffer[] = [];
  let kept = 0;
  for (const chunk of file.chunks) {
    if (kept >= size) break;
    const part = chunk.subarray(0, size - kept);
    chunks.push(part);
    kept += part.length;
  }
  return { chunks, size, modifiedAt: new Date() };
}
