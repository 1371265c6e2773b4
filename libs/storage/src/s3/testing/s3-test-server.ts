import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';
import type { S3Settings } from '../s3-settings.js';

/** s3rver's one account; the driver finds it through the AWS SDK's environment credentials. */
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

/**
 * A private s3rver (a local S3-compatible server, a devDependency) for one test file:
 * its own free port, directory and bucket. It lacks UploadPartCopy, ListParts,
 * ListMultipartUploads and AbortMultipartUpload, which the driver does without.
 */
export class S3TestServer {
  private constructor(
    private readonly server: S3rver,
    private readonly dir: string,
    readonly endpoint: string,
    readonly bucket: string,
  ) {}

  static async start(): Promise<S3TestServer> {
    Object.assign(process.env, CREDENTIALS);
    const dir = await mkdtemp(join(tmpdir(), 'berth-s3-'));
    const bucket = `berth-${randomBytes(4).toString('hex')}`;
    const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, configureBuckets: [{ name: bucket }] });
    storeObjectsAtomically(server.store);
    listCommonPrefixesAtAnyDepth(server.store);
    const { port } = await server.run();
    return new S3TestServer(server, dir, `http://127.0.0.1:${port}`, bucket);
  }

  /** Driver settings for this server's bucket, under `prefix` (e.g. one per test). */
  settings(prefix = '', overrides: Partial<S3Settings> = {}): S3Settings {
    return {
      bucket: this.bucket,
      region: 'us-east-1',
      endpoint: this.endpoint,
      forcePathStyle: true,
      prefix,
      redirect: true,
      redirectExpirySeconds: 600,
      ...overrides,
    };
  }

  /** The environment that points a registry at this server's bucket. */
  env(prefix = ''): Record<string, string> {
    return {
      ...CREDENTIALS,
      STORAGE_DRIVER: 's3',
      S3_BUCKET: this.bucket,
      S3_REGION: 'us-east-1',
      S3_ENDPOINT: this.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      ...(prefix ? { S3_PREFIX: prefix } : {}),
    };
  }

  async stop(): Promise<void> {
    await this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}

interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: 'object'): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  listObjects(bucket: string, options: ListOptions): Promise<ListResult>;
}

interface ListOptions {
  delimiter?: string;
  prefix?: string;
  maxKeys?: number;
  startAfter?: string;
}

interface ListResult {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}

/**
 * s3rver answers a PUT before the object is on disk (it waits for its hashing stream,
 * not its file stream), so a request right after it can read a short or empty object;
 * S3 itself stores an object atomically once the PUT is answered. Here every object
 * (put, copied or assembled from parts) is written to a temporary file, which is
 * renamed into place once closed. s3rver lists only its own `._S3rver_object` files,
 * so the temporary ones never show.
 */
function storeObjectsAtomically(store: S3rverStore): void {
  store.putObject = async function (this: S3rverStore, object: S3rverObject) {
    const path = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${randomBytes(6).toString('hex')}.partial`;
    const md5 = createHash('md5');
    let size = 0;
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    async function* measured(chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        md5.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    await pipeline(source, measured, createWriteStream(temporary));
    await rename(temporary, path);
    const digest = md5.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

/**
 * s3rver does not walk below a directory that holds the delimiter after the prefix, so
 * with a delimiter it misses every common prefix more than one level deep (`blobs/` shows
 * no `blobs/sha256/` when every key is `blobs/sha256/ab/<hex>/data`); S3 finds them. Here a
 * listing with a delimiter lists every key under the prefix and folds them as S3 does,
 * in one page (enough for tests).
 */
function listCommonPrefixesAtAnyDepth(store: S3rverStore): void {
  const listAll = store.listObjects.bind(store);
  store.listObjects = async (bucket: string, options: ListOptions) => {
    const { delimiter, prefix = '' } = options;
    if (!delimiter) return listAll(bucket, options);
    const all = await listAll(bucket, { ...options, delimiter: '', maxKeys: Infinity });
    const commonPrefixes = new Set<string>();
    const objects: ListResult['objects'] = [];
    for (const object of all.objects) {
      const at = object.key.slice(prefix.length).indexOf(delimiter);
      if (at === -1) objects.push(object);
      else commonPrefixes.add(object.key.slice(0, prefix.length + at + delimiter.length));
    }
    return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated: false };
  };
}
