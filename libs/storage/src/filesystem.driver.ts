import { randomUUID } from 'node:crypto';
// The default export (not named imports) so tests can simulate EXDEV on rename.
import fs from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { forEachLimited } from './pool.js';
import { FilesystemWriter } from './filesystem.writer.js';
import { sendFile, sendfileAvailable } from './sendfile.js';
import {
  InvalidPathError,
  PathNotFoundError,
  type FileInfo,
  type OpenFileRange,
  type StorageDriver,
  type StorageWriter,
} from './storage-driver.js';
import { assertByteRange, assertStoragePath } from './storage-path.js';

// Reads for the stream path (TLS, no addon): 2 MiB cost ~20% less CPU per byte than 1 MiB
// and as little as 4 MiB, with half the buffer per pull.
const HIGH_WATER_MARK = 2 * 1024 * 1024;

export interface FilesystemOptions {
  /** Offer `openFile` (zero-copy sends) when the native addon is built; default true. */
  sendfile?: boolean;
}

/** Deletions in flight at once in deleteMany: enough to overlap the disk's latency. */
const DELETE_CONCURRENCY = 16;

/** Stores every path as a file under `root`; directories are created on demand. */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly openFile?: (path: string, offset: number, length: number) => Promise<OpenFileRange>;
  private readonly root: string;

  constructor(root: string, { sendfile = true }: FilesystemOptions = {}) {
    this.root = resolve(root);
    // Absent without the addon: callers then stream, as with any other driver.
    if (sendfile && sendfileAvailable()) this.openFile = (path, offset, length) => this.openRange(path, offset, length);
  }

  async stat(path: string): Promise<FileInfo | null> {
    try {
      const stats = await fs.stat(this.resolve(path));
      // Directories are only prefixes, as in an object store: nothing is "stored" there.
      return stats.isFile() ? { size: stats.size, modifiedAt: stats.mtime } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async reader(path: string, offset = 0, length?: number): Promise<Readable> {
    assertByteRange(offset, length);
    return streamFrom(await this.openForReading(path), offset, length);
  }

  private async openRange(path: string, offset: number, length: number): Promise<OpenFileRange> {
    assertByteRange(offset, length);
    const handle = await this.openForReading(path);
    return {
      async sendTo(socket, idleTimeoutMs) {
        // The addon dup()s the descriptor as the send starts, so ours can close at once.
        await Promise.all([sendFile(socket, handle.fd, offset, length, idleTimeoutMs), handle.close()]);
      },
      stream: () => streamFrom(handle, offset, length),
    };
  }

  /** Opens up front so a missing file rejects here instead of erroring a stream later. */
  private async openForReading(path: string): Promise<fs.FileHandle> {
    const file = this.resolve(path);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) throw new PathNotFoundError(path);
      throw err;
    }
    try {
      // Opening a directory read-only succeeds on Linux; treat it as missing like stat does.
      if (!(await handle.stat()).isFile()) throw new PathNotFoundError(path);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle;
  }

  async writer(path: string, offset: number): Promise<StorageWriter> {
    assertByteRange(offset, undefined);
    const file = this.resolve(path);
    await fs.mkdir(dirname(file), { recursive: true });
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, offset === 0 ? 'w' : 'r+');
    } catch (err) {
      if (err.code === 'ENOENT') throw new PathNotFoundError(path);
      throw err;
    }
    try {
      if (offset > 0) {
        if ((await handle.stat()).size < offset) throw new PathNotFoundError(path);
        await handle.truncate(offset);
      }
      return new FilesystemWriter(file, path, offset);
    } finally {
      await handle.close();
    }
  }

  async move(from: string, to: string, length?: number): Promise<void> {
    const source = this.resolve(from);
    const target = this.resolve(to);
    if (length !== undefined) assertByteRange(0, length);
    await fs.mkdir(dirname(target), { recursive: true });
    try {
      // The bytes reach the disk before the name does: a blob is durable once moved in.
      if (!(await syncFile(source, length))) throw new PathNotFoundError(from);
      // rename replaces the target atomically, so concurrent moves onto one target all succeed.
      await fs.rename(source, target);
    } catch (err) {
      if (isMissing(err)) throw new PathNotFoundError(from);
      // Happens when part of the tree (e.g. uploads/) is a separate mount.
      if (err.code !== 'EXDEV') throw err;
      await this.copyAcrossDevices(source, target);
    }
  }

  async adoptLocalFile(localFile: string, to: string): Promise<boolean> {
    const target = this.resolve(to);
    await fs.mkdir(dirname(target), { recursive: true });
    if (!(await syncFile(localFile, undefined))) return false;
    try {
      await fs.rename(localFile, target);
      return true;
    } catch (err) {
      if (err.code === 'EXDEV') return false;
      throw err;
    }
  }

  async delete(path: string): Promise<void> {
    await fs.rm(this.resolve(path), { recursive: true, force: true });
  }

  async deleteMany(paths: readonly string[]): Promise<void> {
    const files = paths.map((path) => this.resolve(path));
    await forEachLimited(files, DELETE_CONCURRENCY, async (file) => {
      await fs.rm(file, { force: true });
      // Its own directory (a blob's) goes too once empty; rmdir refuses one that is not. Higher ones
      // stay: another path's writer may be about to use them.
      if (dirname(file) !== this.root) await fs.rmdir(dirname(file)).catch(() => undefined);
    });
  }

  async list(prefix: string): Promise<string[]> {
    try {
      return await fs.readdir(this.resolve(prefix));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async redirectUrl(path: string): Promise<string | null> {
    this.resolve(path);
    return null;
  }

  private resolve(path: string): string {
    assertStoragePath(path);
    const file = resolve(this.root, path);
    // Belt and braces on top of the segment check: the result must lie strictly inside root.
    const inside = relative(this.root, file);
    if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      throw new InvalidPathError(path);
    }
    return file;
  }

  private async copyAcrossDevices(source: string, target: string): Promise<void> {
    // Copy beside the target, then rename, so readers never see a half-copied file.
    const temporary = `${target}.${randomUUID()}.tmp`;
    try {
      await fs.copyFile(source, temporary);
      await fs.rename(temporary, target);
    } catch (err) {
      await fs.rm(temporary, { force: true });
      throw err;
    }
    await fs.rm(source, { force: true });
  }
}

/** The bytes from `offset` (at most `length`) of an open file; the stream closes it. */
function streamFrom(handle: fs.FileHandle, offset: number, length: number | undefined): Readable {
  if (length === 0) {
    void handle.close();
    return Readable.from([]);
  }
  return handle.createReadStream({
    start: offset,
    end: length === undefined ? undefined : offset + length - 1,
    highWaterMark: HIGH_WATER_MARK,
  });
}

/** Cuts the file to `length` (when given), then syncs it; false when it holds fewer bytes. */
async function syncFile(file: string, length: number | undefined): Promise<boolean> {
  const handle = await fs.open(file, 'r+');
  try {
    if (length !== undefined) {
      const { size } = await handle.stat();
      if (size < length) return false;
      if (size > length) await handle.truncate(length);
    }
    await handle.datasync();
    return true;
  } finally {
    await handle.close();
  }
}

function isMissing(err: { code?: string }): boolean {
  return err.code === 'ENOENT' || err.code === 'ENOTDIR';
}
