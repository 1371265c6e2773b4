import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describeStorageDriver } from '../testing/driver-conformance.js';
import { FileTooLargeError, PathNotFoundError, type StorageDriver } from '../storage-driver.js';
import { S3Driver } from './s3.driver.js';
import { S3TestServer } from './testing/s3-test-server.js';

const MiB = 1024 * 1024;

let server: S3TestServer;
let testNumber = 0;

beforeAll(async () => {
  server = await S3TestServer.start();
});

afterAll(async () => {
  await server?.stop();
});

/** Each test gets its own prefix in the one bucket, so tests never see each other's keys. */
function freshPrefix(): string {
  return `test-${++testNumber}/`;
}

describeStorageDriver('s3', async () => {
  const driver = new S3Driver(server.settings(freshPrefix(), { partSize: 5 * MiB }));
  return { driver, cleanup: async () => {} };
});

describe('S3Driver', () => {
  let prefix: string;
  let driver: S3Driver;

  beforeEach(() => {
    prefix = freshPrefix();
    driver = new S3Driver(server.settings(prefix, { partSize: 5 * MiB }));
  });

  async function readAll(source: StorageDriver, path: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await source.reader(path)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  async function append(source: StorageDriver, path: string, offset: number, bytes: Buffer): Promise<number> {
    const writer = await source.writer(path, offset);
    await writer.write(Readable.from([bytes]));
    await writer.commit();
    return writer.size;
  }

  it('deletes more files at once than one DeleteObjects request takes (1000 keys: each file is its object and its record)', { timeout: 60_000 }, async () => {
    const settings = server.settings(prefix);
    const client = new S3Client({ region: settings.region, endpoint: settings.endpoint, forcePathStyle: true });
    const paths = Array.from({ length: 501 }, (_, i) => `many/${String(i).padStart(4, '0')}/data`);
    const put = (path: string) => client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: prefix + path, Body: path }));
    try {
      for (let i = 0; i < paths.length; i += 50) await Promise.all(paths.slice(i, i + 50).map(put));
      await put('many-kept/data');
    } finally {
      client.destroy();
    }
    expect((await driver.list('many')).length).toBe(501);
    await driver.deleteMany(paths);
    expect(await driver.list('many')).toEqual([]);
    expect((await readAll(driver, 'many-kept/data')).toString()).toBe('many-kept/data');
  });

  it('continues a session in another driver instance (a replica) after a commit', async () => {
    const replica = new S3Driver(server.settings(prefix, { partSize: 5 * MiB }));
    const first = randomBytes(7 * MiB);
    const second = randomBytes(4 * MiB);
    const size = await append(driver, 'uploads/u/data', 0, first);
    expect(size).toBe(7 * MiB);
    expect((await replica.stat('uploads/u/data'))?.size).toBe(7 * MiB);
    expect(await append(replica, 'uploads/u/data', size, second)).toBe(11 * MiB);
    expect((await readAll(driver, 'uploads/u/data')).equals(Buffer.concat([first, second]))).toBe(true);
  });

  it('adds up small chunks from separate writers past several parts, read back and moved exactly', async () => {
    const chunks = Array.from({ length: 13 }, (_, i) => randomBytes(MiB - 1000 * i));
    let size = 0;
    for (const chunk of chunks) size = await append(driver, 'uploads/u/data', size, chunk);
    const expected = Buffer.concat(chunks);
    expect(size).toBe(expected.length);
    expect((await readAll(driver, 'uploads/u/data')).equals(expected)).toBe(true);
    // A range across a part boundary.
    const ranged: Buffer[] = [];
    for await (const chunk of await driver.reader('uploads/u/data', 5 * MiB - 10, 20)) ranged.push(chunk);
    expect(Buffer.concat(ranged).equals(expected.subarray(5 * MiB - 10, 5 * MiB + 10))).toBe(true);

    await driver.move('uploads/u/data', 'blobs/b/data');
    expect((await readAll(driver, 'blobs/b/data')).equals(expected)).toBe(true);
    expect(await driver.stat('uploads/u/data')).toBeNull();
    expect(await driver.list('uploads/u')).toEqual([]);
  });

  it('drops a failed chunk, inside a part or past whole parts, when the session resumes', async () => {
    const committed = randomBytes(6 * MiB);
    await append(driver, 'uploads/u/data', 0, committed);
    const writer = await driver.writer('uploads/u/data', committed.length);
    async function* failing(): AsyncGenerator<Buffer> {
      yield randomBytes(5 * MiB);
      throw new Error('client went away');
    }
    await expect(writer.write(Readable.from(failing()))).rejects.toThrow('client went away');
    // The failed body filled a part, which was stored but never committed.
    expect((await driver.stat('uploads/u/data'))?.size).toBe(committed.length);

    const retry = randomBytes(3 * MiB);
    expect(await append(driver, 'uploads/u/data', committed.length, retry)).toBe(9 * MiB);
    expect((await readAll(driver, 'uploads/u/data')).equals(Buffer.concat([committed, retry]))).toBe(true);

    // Truncating into the middle of the first part keeps exactly the bytes before the offset.
    expect(await append(driver, 'uploads/u/data', 1234, Buffer.from('tail'))).toBe(1238);
    expect((await readAll(driver, 'uploads/u/data')).equals(Buffer.concat([committed.subarray(0, 1234), Buffer.from('tail')]))).toBe(true);
  });

  it('refuses to pass its largest file (as many parts as S3 assembles), keeping what was committed', async () => {
    const small = new S3Driver(server.settings(prefix, { partSize: 5 * MiB, maxParts: 2 }));
    expect(small.maxFileSize).toBe(10 * MiB);
    expect(driver.maxFileSize).toBe(10_000 * 5 * MiB);
    const committed = randomBytes(6 * MiB);
    await append(small, 'uploads/u/data', 0, committed);
    const writer = await small.writer('uploads/u/data', committed.length);
    await expect(writer.write(Readable.from([randomBytes(4 * MiB), randomBytes(1)]))).rejects.toBeInstanceOf(FileTooLargeError);
    expect((await small.stat('uploads/u/data'))?.size).toBe(committed.length);
    // Up to the limit exactly, the file is stored and assembled.
    const rest = randomBytes(4 * MiB);
    expect(await append(small, 'uploads/u/data', committed.length, rest)).toBe(10 * MiB);
    await small.move('uploads/u/data', 'blobs/b/data', 10 * MiB);
    expect((await readAll(small, 'blobs/b/data')).equals(Buffer.concat([committed, rest]))).toBe(true);
  });

  it('moves the first bytes of a staged file of several parts, cut inside a part', async () => {
    const bytes = randomBytes(12 * MiB);
    await append(driver, 'uploads/u/data', 0, bytes);
    await driver.move('uploads/u/data', 'blobs/b/data', 7 * MiB + 3);
    expect((await readAll(driver, 'blobs/b/data')).equals(bytes.subarray(0, 7 * MiB + 3))).toBe(true);
  });

  it('resumes a moved-in object as a staged file', async () => {
    await append(driver, 'uploads/u/data', 0, Buffer.from('moved content'));
    await driver.move('uploads/u/data', 'blobs/b/data');
    await append(driver, 'blobs/b/data', 5, Buffer.from('!'));
    expect((await readAll(driver, 'blobs/b/data')).toString()).toBe('moved!');
    await expect(driver.writer('blobs/b/data', 7)).rejects.toBeInstanceOf(PathNotFoundError);
  });

  it('streams a 40 MiB body in 1 MiB chunks without holding it', async () => {
    const hash = createHash('sha256');
    // Live memory only: collected before each sample, so garbage not yet freed cannot count.
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    collect();
    let peak = 0;
    const baseline = process.memoryUsage().arrayBuffers;
    async function* body(): AsyncGenerator<Buffer> {
      // Chunks that do not divide a part: a remainder is carried from part to part.
      for (let i = 0; i < 40; i++) {
        const chunk = randomBytes(i === 39 ? MiB - 39 * 7 : MiB + 7);
        hash.update(chunk);
        collect();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
        yield chunk;
      }
    }
    const writer = await driver.writer('uploads/big/data', 0);
    await writer.write(Readable.from(body()));
    await writer.commit();
    expect(writer.size).toBe(40 * MiB);
    // A writer holds under two 5 MiB parts; the chunk in flight, the SDK and the in-process
    // s3rver's copy of the part it is receiving (up to 5 MiB, more under load) add to it. A
    // writer that kept the body would pass 40 MiB.
    expect(peak).toBeLessThan(28 * MiB);

    await driver.move('uploads/big/data', 'blobs/big/data');
    const read = createHash('sha256');
    for await (const chunk of await driver.reader('blobs/big/data')) read.update(chunk);
    expect(read.digest('hex')).toBe(hash.digest('hex'));
  });

  describe('redirects', () => {
    it('presigns a GET URL that plain fetch follows, and a HEAD URL', async () => {
      // Long enough that the fetches below never race the expiry, whatever the clock's phase.
      const signer = new S3Driver(server.settings(prefix, { redirectExpirySeconds: 60 }));
      await append(driver, 'uploads/u/data', 0, Buffer.from('presigned bytes'));
      await driver.move('uploads/u/data', 'blobs/b/data');
      const url = await signer.redirectUrl('blobs/b/data', 'GET');
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*X-Amz-Signature=/);
      const response = await fetch(url!);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('presigned bytes');

      const head = await fetch((await signer.redirectUrl('blobs/b/data', 'HEAD'))!, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe('15');
    });

    it('presigns for redirectExpirySeconds: the URL is refused once that has passed', async () => {
      const short = new S3Driver(server.settings(prefix, { redirectExpirySeconds: 1 }));
      await append(driver, 'uploads/u/data', 0, Buffer.from('presigned bytes'));
      await driver.move('uploads/u/data', 'blobs/b/data');
      const url = new URL((await short.redirectUrl('blobs/b/data', 'GET'))!);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('1');
      // Signed at whole seconds: the deadline comes from the URL, not from when signing happened.
      const signedAt = Date.parse(url.searchParams.get('X-Amz-Date')!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, signedAt + 2000 - Date.now()) + 100));
      expect((await fetch(url)).status).toBe(403);
    });

    it('names the public endpoint when one is set', async () => {
      const pub = new S3Driver(server.settings(prefix, { publicEndpoint: 'https://s3.example.com' }));
      expect(await pub.redirectUrl('blobs/b/data', 'GET')).toMatch(/^https:\/\/s3\.example\.com\//);
    });

    it('gives no URL when redirects are off', async () => {
      const off = new S3Driver(server.settings(prefix, { redirect: false }));
      expect(await off.redirectUrl('blobs/b/data', 'GET')).toBeNull();
    });
  });
});
