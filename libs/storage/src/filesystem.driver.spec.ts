import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FilesystemDriver } from './filesystem.driver.js';

// Behaviour specific to files on disk; the shared contract lives in testing/driver-conformance.ts.
describe('FilesystemDriver', () => {
  let dir: string;
  let root: string;
  let driver: FilesystemDriver;

  beforeEach(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'berth-fs-'));
    root = join(dir, 'root');
    driver = new FilesystemDriver(root);
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function put(path: string, content: string): Promise<void> {
    const writer = await driver.writer(path, 0);
    await writer.write(Readable.from([Buffer.from(content)]));
    await writer.commit();
  }

  it('keeps each path as a plain file at the same place under root', async () => {
    await put('blobs/sha256/ab/abcd/data', 'bytes');
    expect(await fs.readFile(join(root, 'blobs/sha256/ab/abcd/data'), 'utf8')).toBe('bytes');
  });

  it('copies then removes the source when rename crosses devices', async () => {
    await put('uploads/u/data', 'payload');
    await put('blobs/x/data', 'stale');
    const exdev = Object.assign(new Error('cross-device link not permitted'), { code: 'EXDEV' });
    vi.spyOn(fs, 'rename').mockRejectedValueOnce(exdev);

    await driver.move('uploads/u/data', 'blobs/x/data');

    expect(await fs.readFile(join(root, 'blobs/x/data'), 'utf8')).toBe('payload');
    expect(await driver.stat('uploads/u/data')).toBeNull();
    // No temporary copy left beside the target.
    expect(await driver.list('blobs/x')).toEqual(['data']);
  });

  it('counts the bytes that reached the file when a body fails midway', async () => {
    const writer = await driver.writer('uploads/u/data', 0);
    const file = join(root, 'uploads/u/data');
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('partial');
        // Fail only once the first chunk is on disk, so the outcome doesn't depend on timing.
        while ((await fs.stat(file)).size < 7) await new Promise((resolve) => setTimeout(resolve, 1));
        throw new Error('client went away');
      })(),
    );
    await expect(writer.write(failing)).rejects.toThrow('client went away');
    expect(writer.size).toBe(7);
    await writer.commit();

    const resumed = await driver.writer('uploads/u/data', 7);
    expect(resumed.size).toBe(7);
  });
});
