import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createStorageDriver } from './create-storage-driver.js';

const run = promisify(execFile);
const storageIndex = fileURLToPath(new URL('./index.ts', import.meta.url));

/** Creates a driver in a fresh Node process and tells whether the AWS SDK got loaded there. */
async function loadsAwsSdk(settings: object): Promise<boolean> {
  const script = `
    import { createRequire } from 'node:module';
    const { createStorageDriver } = await import(process.argv[1]);
    await createStorageDriver(JSON.parse(process.argv[2]));
    console.log(Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('@aws-sdk/client-s3')));
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, storageIndex, JSON.stringify(settings)]);
  return stdout.trim() === 'true';
}

describe('createStorageDriver', () => {
  it('loads the AWS SDK (~26 MB of memory) only for the s3 driver', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-driver-'));
    try {
      expect(await loadsAwsSdk({ driver: 'filesystem', root: dir })).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const s3 = { bucket: 'b', region: 'us-east-1', forcePathStyle: true, prefix: '', redirect: true, redirectExpirySeconds: 60 };
    expect(await loadsAwsSdk({ driver: 's3', root: '', s3 })).toBe(true);
  });

  it('refuses an unknown driver and s3 without its settings', async () => {
    await expect(createStorageDriver({ driver: 's4' as 's3', root: '' })).rejects.toThrow('unknown storage driver: s4');
    await expect(createStorageDriver({ driver: 's3', root: '' })).rejects.toThrow('needs its settings');
  });
});
