import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStorageDriver } from './testing/driver-conformance.js';
import { FilesystemDriver } from './filesystem.driver.js';
import { InMemoryDriver } from './inmemory.driver.js';

describeStorageDriver('filesystem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-storage-'));
  // Root one level down, so a path that escaped it would still be cleaned up.
  return {
    driver: new FilesystemDriver(join(dir, 'root')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describeStorageDriver('inmemory', async () => ({
  driver: new InMemoryDriver(),
  cleanup: async () => {},
}));
