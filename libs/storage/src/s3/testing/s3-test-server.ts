import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
