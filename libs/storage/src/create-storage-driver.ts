import { FilesystemDriver } from './filesystem.driver.js';
import { InMemoryDriver } from './inmemory.driver.js';
import type { StorageDriver } from './storage-driver.js';

export interface StorageSettings {
  driver: 'filesystem' | 'inmemory';
  /** Directory the filesystem driver keeps everything under; unused by inmemory. */
  root: string;
}

export function createStorageDriver(settings: StorageSettings): StorageDriver {
  switch (settings.driver) {
    case 'filesystem':
      return new FilesystemDriver(settings.root);
    case 'inmemory':
      return new InMemoryDriver();
    default:
      // Settings may come from untyped config; fail loudly rather than fall back.
      throw new Error(`unknown storage driver: ${String((settings as { driver: unknown }).driver)}`);
  }
}
