/**
 * Just enough of an OCI Distribution client for the bench: plain HTTP through
 * one keep-alive undici Agent, an optional fixed Authorization header (HTTP
 * Basic for Berth, none for Distribution), strict status checks so a server that
 * answers wrongly fails loudly instead of producing a flattering number.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { blobChunks, CHUNK_BYTES, type LargeBlob, type SmallBlob } from './blob-data.js';
import { MANIFEST_ACCEPT } from './small-images.js';

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Body = Buffer | Readable | null;

interface SendOptions {
  headers?: Record<string, string>;
  body?: Body;
  expect: number[];
}

export class RegistryClient {
  private readonly agent: Agent;

  /** `authorization`: the Authorization header value sent on every request, if any. */
  constructor(
    readonly baseUrl: string,
    private readonly authorization?: string,
  ) {
    // Generous timeouts: a 256 MiB PUT may take a while to be answered, but
    // a hung server must still end the run rather than stall it forever.
    this.agent = new Agent({
      connections: 64,
      keepAliveTimeout: 30_000,
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /** Location may be relative or absolute; resolve it against the server. */
  resolve(location: string): string {
    return new URL(location, `${this.baseUrl}/`).toString();
  }

  /** Appends digest= verbatim, keeping any upload state already in the query string. */
  static withDigest(location: string, digest: string): string {
    return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
  }

  private async send(method: Method, url: string, options: SendOptions): Promise<Dispatcher.ResponseData> {
    // Never to another origin: a redirect to presigned storage must not carry (nor be broken by) our credentials.
    const sameOrigin = new URL(url).origin === new URL(this.baseUrl).origin;
    const headers = this.authorization && sameOrigin ? { ...options.headers, authorization: this.authorization } : options.headers;
    const res = await request(url, {
      method,
      headers,
      body: options.body ?? null,
      dispatcher: this.agent,
    });
    if (!options.expect.includes(res.statusCode)) {
      const text = (await res.body.text().catch(() => '')).slice(0, 400);
      throw new Error(
        `${method} ${new URL(url).pathname} answered ${res.statusCode}, expected ${options.expect.join('/')}` +
          (text ? `: ${text}` : ''),
      );
    }
    return res;
  }

  /** For calls whose body we do not need: drain it so the connection is reused. */
  private async sendAndDrain(method: Method, url: string, options: SendOptions) {
    const res = await this.send(method, url, options);
    await res.body.dump();
    return res;
  }

  private locationOf(res: Dispatcher.ResponseData): string {
    const raw = res.headers.location;
    const location = Array.isArray(raw) ? raw[0] : raw;
    if (!location) throw new Error(`answer ${res.statusCode} carries no Location header`);
    return this.resolve(location);
  }

  async startUpload(repo: string): Promise<string> {
    const res = await this.sendAndDrain('POST', `${this.baseUrl}/v2/${repo}/blobs/uploads/`, {
      headers: { 'content-length': '0' },
      expect: [202],
    });
    return this.locationOf(res);
  }

  private async completeUpload(location: string, digest: string, body: Body, length: number): Promise<void> {
    const res = await this.sendAndDrain('PUT', RegistryClient.withDigest(location, digest), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
      body,
      expect: [201],
    });
    const echoed = res.headers['docker-content-digest'];
    if (echoed && echoed !== digest) throw new Error(`server stored ${echoed}, expected ${digest}`);
  }

  /** POST for a session, then one PUT carrying the whole blob, streamed. */
  async pushLargeMonolithic(repo: string, blob: LargeBlob): Promise<void> {
    const location = await this.startUpload(repo);
    await this.completeUpload(location, blob.digest, Readable.from(blobChunks(blob)), blob.size);
  }

  /** POST, one PATCH per chunk (following Location each time), then an empty PUT. */
  async pushLargeChunked(repo: string, blob: LargeBlob, chunkBytes: number): Promise<void> {
    let location = await this.startUpload(repo);
    for (let start = 0; start < blob.size; start += chunkBytes) {
      const length = Math.min(chunkBytes, blob.size - start);
      const res = await this.sendAndDrain('PATCH', location, {
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${start}-${start + length - 1}`,
          'content-length': String(length),
        },
        body: Readable.from(blobChunks(blob, start / CHUNK_BYTES, length / CHUNK_BYTES)),
        expect: [202],
      });
      location = this.locationOf(res);
    }
    await this.completeUpload(location, blob.digest, null, 0);
  }

  /**
   * Single-request upload (POST ?digest= with the body). Returns false when the
   * server does not support it (202); the session it opened is then completed
   * with a PUT so no upload is left dangling.
   */
  async pushSmallSinglePost(repo: string, blob: SmallBlob): Promise<boolean> {
    const res = await this.sendAndDrain(
      'POST',
      RegistryClient.withDigest(`${this.baseUrl}/v2/${repo}/blobs/uploads/`, blob.digest),
      {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.bytes.length) },
        body: blob.bytes,
        expect: [201, 202],
      },
    );
    if (res.statusCode === 201) return true;
    await this.completeUpload(this.locationOf(res), blob.digest, blob.bytes, blob.bytes.length);
    return false;
  }

  async pushSmallTwoStep(repo: string, blob: SmallBlob): Promise<void> {
    const location = await this.startUpload(repo);
    await this.completeUpload(location, blob.digest, blob.bytes, blob.bytes.length);
  }

  async putManifest(repo: string, reference: string, mediaType: string, body: Buffer): Promise<void> {
    await this.sendAndDrain('PUT', `${this.baseUrl}/v2/${repo}/manifests/${reference}`, {
      headers: { 'content-type': mediaType, 'content-length': String(body.length) },
      body,
      expect: [201],
    });
  }

  async getManifestDigest(repo: string, reference: string): Promise<string> {
    const res = await this.send('GET', `${this.baseUrl}/v2/${repo}/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      expect: [200],
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    return `sha256:${createHash('sha256').update(body).digest('hex')}`;
  }

  /**
   * Streams a blob and hashes it as it arrives (never buffered whole).
   * Follows one redirect, in case a server hands blobs off to another URL.
   * `onHeaders` is called once the 200 answer's headers are in (time to first byte).
   */
  async pullBlob(repo: string, digest: string, onHeaders?: () => void): Promise<{ bytes: number; digest: string }> {
    let res = await this.send('GET', `${this.baseUrl}/v2/${repo}/blobs/${digest}`, {
      expect: [200, 302, 303, 307],
    });
    if (res.statusCode !== 200) {
      const target = this.locationOf(res);
      await res.body.dump();
      res = await this.send('GET', target, { expect: [200] });
    }
    onHeaders?.();
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { bytes, digest: `sha256:${hash.digest('hex')}` };
  }
}
