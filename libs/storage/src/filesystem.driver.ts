import { randomUUID } from 'node:crypto';
// The default export (not named imports) so tests can simulate EXDEV on rename.
import fs from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { FilesystemWriter } from './filesystem.writer.js';
import {
  InvalidPathError,
  PathNotFoundError,
  type FileInfo,
  type StorageDriver,
  type StorageWriter,
} from './storage-driver.js';
import { assertByteRange, assertStoragePath } from './storage-path.js';

const HIGH_WATER_MARK = 1024 * 1024;

/** Stores every path as a file under `root`; directories are created on demand. */
export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
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
    const file = this.resolve(path);
    assertByteRange(offset, length);
    // Open up front so a missing file rejects here instead of erroring the stream later.
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
    if (length === 0) {
      await handle.close();
      return Readable.from([]);
    }
    return handle.createReadStream({
      start: offset,
      end: length === undefined ? undefined : offset + length - 1,
      highWaterMark: HIGH_WATER_MARK,
    });
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

  async move(from: string, to: string): Promise<void> {
    const source = this.resolve(from);
    const target = this.resolve(to);
    await fs.mkdir(dirname(target), { recursive: true });
    try {
      // The bytes reach the disk before the name does: a blob is durable once moved in.
      await syncFile(source);
      // rename replaces the target atomically, so concurrent moves onto one target all succeed.
      await fs.rename(source, target);
    } catch (err) {
      if (isMissing(err)) throw new PathNotFoundError(from);
      // Happens when part of the tree (e.g. uploads/) is a separate mount.
      if (err.code !== 'EXDEV') throw err;
      await this.copyAcrossDevices(source, target);
    }
  }

  async delete(path: string): Promise<void> {
    await fs.rm(this.resolve(path), { recursive: true, force: true });
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

async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

function isMissing(err: { code?: string }): boolean {
  return err.code === 'ENOENT' || err.code === 'ENOTDIR';
}
