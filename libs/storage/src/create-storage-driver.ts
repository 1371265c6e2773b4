import { FilesystemDriver } from './filesystem.driver.js';
import { InMemoryDriver } from './inmemory.driver.js';
import type { S3Settings } from './s3/s3-settings.js';
import type { StorageDriver } from './storage-driver.js';

export interface StorageSettings {
  driver: 'filesystem' | 'inmemory' | 's3';
  /** Directory the filesystem driver keeps everything under; unused by the others. */
  root: string;
  /** Filesystem: send blobs with sendfile(2) where it can (default true); false always streams. */
  sendfile?: boolean;
  /** Required by the s3 driver. */
  s3?: S3Settings;
}

export async function createStorageDriver(settings: StorageSettings): Promise<StorageDriver> {
  switch (settings.driver) {
    case 'filesystem':
      return new FilesystemDriver(settings.root, { sendfile: settings.sendfile });
    case 'inmemory':
      return new InMemoryDriver();
    case 's3': {
      if (!settings.s3) throw new Error('the s3 storage driver needs its settings');
      // Loaded only here: the AWS SDK costs ~26 MB of memory that other drivers never need.
      const { S3Driver } = await import('./s3/s3.driver.js');
      return new S3Driver(settings.s3);
    }
    default:
      // Settings may come from untyped config; fail loudly rather than fall back.
      throw new Error(`unknown storage driver: ${String((settings as { driver: unknown }).driver)}`);
  }
}
