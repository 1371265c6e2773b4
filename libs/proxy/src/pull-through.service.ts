import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { type Descriptor, MediaTypes, RegistryError, digestOf, parseDigest, parseLookupReference, parseManifest } from '@berth/core';
import { CachedContent, type PullThrough, PullThroughHooks, type StoredManifest, type UpstreamBlob } from '@berth/distribution';
import { BlobFill, prepareSpool } from './blob-fill.js';
import { type ProxyEntry, ProxyDirectory } from './proxy-directory.js';
import { ProxyMetrics } from './proxy-metrics.js';
import { ProxyNamespaceStore } from './proxy-namespace.store.js';
import { UpstreamAuthError, type UpstreamRequest, type UpstreamResponse, UpstreamUnreachableError } from './upstream-client.js';
import { upstreamRepository } from './upstream-settings.js';

/** What a manifest request to upstream accepts: every manifest type Berth stores. */
const MANIFEST_ACCEPT = [MediaTypes.OCI_MANIFEST, MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST, MediaTypes.DOCKER_MANIFEST_LIST].join(', ');
/** A stored fill keeps answering from its spool this long, for requests that looked in the database just before it committed. */
const STORED_GRACE_MS = 10_000;
const NOT_CACHED_LOG_MS = 5 * 60_000;

/** A blob being fetched for one repository of a namespace (others share it). */
interface ActiveFill {
  repository: string;
  fill: Promise<BlobFill>;
  /** Resolves true once the blob is stored (false when it was not). */
  stored: Promise<boolean>;
  size: number;
}

interface Referrers {
  descriptors: Descriptor[];
  fetchedAt: number;
}

/**
 * The pull-through cache: what a proxy namespace serves. Manifests by digest come from the
 * cache, else once from upstream (checked against the digest); by tag, from the cache for
 * the upstream's tag TTL, then after one conditional HEAD upstream (a GET only when the tag
 * moved). Blobs not cached yet stream to the client while they are being stored
 * (BlobFill); one fill per blob and repository in this process, however many ask. An
 * upstream that fails (unreachable, 5xx, 429) leaves what is cached served, stale tags
 * included; what is not cached answers 503 with the upstream's condition.
 */
@Injectable()
export class PullThroughService implements PullThrough, OnModuleInit {
  private readonly logger = new Logger('Proxy');
  private readonly fills = new Map<string, ActiveFill>();
  private readonly manifestFetches = new Map<string, Promise<StoredManifest>>();
  private readonly referrerCache = new LRUCache<string, Referrers>({ max: 1000 });
  private spoolDir?: Promise<string>;
  private readonly notCachedLogged = new Map<string, number>();

  constructor(
    private readonly directory: ProxyDirectory,
    private readonly hooks: PullThroughHooks,
    private readonly content: CachedContent,
    private readonly store: ProxyNamespaceStore,
    private readonly metrics: ProxyMetrics,
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
  ) {}

  onModuleInit(): void {
    this.hooks.register(this);
  }

  private spool(): Promise<string> {
    this.spoolDir ??= prepareSpool(this.config.proxy.spoolDir).catch((err) => {
      this.spoolDir = undefined;
      throw err;
    });
    return this.spoolDir;
  }

  covers(name: string): boolean {
    return this.directory.covering(name) !== undefined;
  }

  async manifest(name: string, reference: string): Promise<StoredManifest> {
    const entry = this.entry(name);
    const ref = parseLookupReference(reference);
    if (!ref) throw manifestUnknown(name, reference);
    if ('digest' in ref) {
      // Immutable: once cached, never asked for again.
      const cached = await this.content.findManifest(name, ref);
      if (cached) {
        this.metrics.served(entry.namespace.name, 'manifest', 'hit');
        return cached;
      }
      return this.once(this.manifestFetches, `${name}@${ref.digest}`, () => this.fetchManifest(entry, name, ref.digest));
    }
    const cached = await this.store.cachedTag(this.dataSource.manager, name, ref.tag);
    const ttlMs = entry.namespace.settings.tagTtlSeconds * 1000;
    if (cached && this.config.readOnly) return cached;
    if (cached?.checkedAt && Date.now() - cached.checkedAt.getTime() < ttlMs) {
      this.metrics.served(entry.namespace.name, 'manifest', 'hit');
      return cached;
    }
    return this.once(this.manifestFetches, `${name}:${ref.tag}`, async () => {
      try {
        if (cached && (await this.tagUnmoved(entry, name, ref.tag, cached.digest))) {
          await this.store.checked(this.dataSource.manager, cached.repositoryId, ref.tag);
          this.metrics.served(entry.namespace.name, 'manifest', 'hit');
          return cached;
        }
        return await this.fetchManifest(entry, name, ref.tag);
      } catch (err) {
        if (cached && isUpstreamFailure(err)) {
          this.metrics.served(entry.namespace.name, 'manifest', 'stale');
          return cached;
        }
        throw err;
      }
    });
  }

  async blob(name: string, digest: string, cachedSize: number | undefined): Promise<{ size: number; upstream?: UpstreamBlob }> {
    const entry = this.entry(name);
    if (cachedSize !== undefined) {
      this.metrics.served(entry.namespace.name, 'blob', 'hit');
      return { size: cachedSize };
    }
    // One fill per blob in a namespace, whichever of its repositories asks.
    const key = `${entry.namespace.name}@${digest}`;
    let active = this.fills.get(key);
    if (!active) {
      const stored = await this.content.storedBlobSize(digest);
      if (stored !== null && (await this.blobSize(name, digest)) === stored && (await this.content.linkBlob(name, digest, stored).catch(() => false))) {
        // Stored for another repository already: linked here once upstream confirmed it, nothing downloaded.
        this.metrics.served(entry.namespace.name, 'blob', 'hit');
        return { size: stored };
      }
      // Another request may have started the fill meanwhile.
      active = this.fills.get(key);
      if (!active) {
        active = this.startFill(entry, name, digest, key);
        this.fills.set(key, active);
      }
    }
    if (active.repository !== name) {
      // Another repository's fill: shared once upstream confirms this repository has the blob too.
      await this.blobSize(name, digest);
      const shared = active;
      void shared.stored.then((stored) => stored && this.content.linkBlob(name, digest, shared.size)).catch(() => undefined);
    }
    const fill = await active.fill;
    if (fill.failed) throw unavailable(entry, fill.failed.message);
    this.metrics.served(entry.namespace.name, 'blob', 'miss');
    const idleMs = this.config.body.idleTimeoutSeconds * 1000;
    return { size: fill.size, upstream: { size: fill.size, open: (start, length) => ({ stream: () => fill.reader(start, length, idleMs) }) } };
  }

  /** Drops the fill from the in-flight map (when it is still the one there) and lets its spool go. */
  private forget(key: string, active: ActiveFill, fill?: BlobFill): void {
    if (this.fills.get(key) === active) this.fills.delete(key);
    fill?.finish();
  }

  async blobSize(name: string, digest: string): Promise<number> {
    const entry = this.entry(name);
    const repository = upstreamRepository(entry.namespace, name);
    const res = await this.call(entry, { method: 'HEAD', path: `${repository}/blobs/${digest}`, repository }, 'blob');
    await res.body.dump().catch(() => undefined);
    if (res.statusCode !== 200) throw refused(entry, res.statusCode, 'BLOB_UNKNOWN', `blob ${digest} unknown upstream`, { digest });
    const size = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 0) throw unavailable(entry, 'the upstream sent no Content-Length for the blob');
    return size;
  }

  async referrers(name: string, digest: string, artifactType?: string): Promise<Descriptor[]> {
    const entry = this.entry(name);
    parseDigest(digest);
    const key = `${name}@${digest}`;
    const cached = this.referrerCache.get(key);
    const fresh = cached && Date.now() - cached.fetchedAt < entry.namespace.settings.tagTtlSeconds * 1000;
    let descriptors: Descriptor[];
    if (cached && fresh) {
      this.metrics.served(entry.namespace.name, 'referrers', 'hit');
      descriptors = cached.descriptors;
    } else {
      try {
        descriptors = await this.fetchReferrers(entry, name, digest);
        this.referrerCache.set(key, { descriptors, fetchedAt: Date.now() });
        this.metrics.served(entry.namespace.name, 'referrers', 'miss');
      } catch (err) {
        if (!cached || !isUpstreamFailure(err)) throw err;
        this.metrics.served(entry.namespace.name, 'referrers', 'stale');
        descriptors = cached.descriptors;
      }
    }
    return artifactType ? descriptors.filter((d) => d.artifactType === artifactType) : descriptors;
  }

  /** Logs, at most every NOT_CACHED_LOG_MS per namespace, that something fetched could not be kept. */
  private notCached(entry: ProxyEntry, reason: string): void {
    const now = Date.now();
    if (now - (this.notCachedLogged.get(entry.namespace.name) ?? 0) < NOT_CACHED_LOG_MS) return;
    this.notCachedLogged.set(entry.namespace.name, now);
    this.logger.warn(`${entry.namespace.name} serves what it cannot keep: ${reason}`);
  }

  /** READ_ONLY=true: the cache serves what it holds and takes nothing new. */
  private refuseInReadOnlyMode(entry: ProxyEntry): void {
    if (this.config.readOnly) throw new RegistryError('UNAVAILABLE', `the registry is in read-only mode: the cache of ${entry.namespace.name} serves only what it holds`);
  }

  private entry(name: string): ProxyEntry {
    const entry = this.directory.covering(name);
    // The namespace alone is no repository upstream.
    if (!entry || name === entry.namespace.name) throw new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
    if (entry.broken) throw unavailable(entry, entry.broken);
    return entry;
  }

  /** Runs `task` once for concurrent callers with the same key. */
  private once<T>(map: Map<string, Promise<T>>, key: string, task: () => Promise<T>): Promise<T> {
    const running = map.get(key);
    if (running) return running;
    const started = task().finally(() => map.delete(key));
    map.set(key, started);
    return started;
  }

  /** HEAD upstream with the cached digest in mind: true when the tag still points at it. */
  private async tagUnmoved(entry: ProxyEntry, name: string, tag: string, digest: string): Promise<boolean> {
    const repository = upstreamRepository(entry.namespace, name);
    const res = await this.call(entry, { method: 'HEAD', path: `${repository}/manifests/${tag}`, repository, headers: { accept: MANIFEST_ACCEPT } }, 'manifest');
    await res.body.dump().catch(() => undefined);
    return res.statusCode === 200 && res.headers['docker-content-digest'] === digest;
  }

  private async fetchManifest(entry: ProxyEntry, name: string, reference: string): Promise<StoredManifest> {
    this.refuseInReadOnlyMode(entry);
    const repository = upstreamRepository(entry.namespace, name);
    const res = await this.call(entry, { method: 'GET', path: `${repository}/manifests/${reference}`, repository, headers: { accept: MANIFEST_ACCEPT } }, 'manifest');
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw refused(entry, res.statusCode, 'MANIFEST_UNKNOWN', `manifest ${reference} unknown upstream`, { reference });
    }
    const content = await readLimited(res, this.config.manifestMaxBytes, entry);
    const byDigest = reference.includes(':');
    const digest = digestOf(content, byDigest ? parseDigest(reference).algorithm : 'sha256');
    if (byDigest && digest !== reference) {
      throw unavailable(entry, `the upstream sent a manifest whose digest is ${digest}, not ${reference}: nothing was cached`);
    }
    const contentType = headerValue(res.headers['content-type'])?.split(';')[0].trim();
    let mediaType: string;
    try {
      mediaType = parseManifest(content, contentType).mediaType;
    } catch (err) {
      throw unavailable(entry, `the upstream sent a manifest Berth cannot store: ${err.message}`);
    }
    this.metrics.served(entry.namespace.name, 'manifest', 'miss');
    try {
      const repositoryId = await this.content.storeManifest(name, digest, content, contentType, byDigest ? undefined : reference);
      if (!byDigest) await this.store.checked(this.dataSource.manager, repositoryId, reference);
    } catch (err) {
      // Over its quota the namespace serves what upstream sent without keeping it.
      if (!(err instanceof RegistryError && err.code === 'DENIED')) throw err;
      this.notCached(entry, err.message);
    }
    return { digest, mediaType, content };
  }

  /** Asks upstream for the blob; once its headers are in, the fill runs on its own, whoever still reads it. */
  private startFill(entry: ProxyEntry, name: string, digest: string, key: string): ActiveFill {
    let storedResult: (stored: boolean) => void = () => undefined;
    const active: ActiveFill = {
      repository: name,
      size: 0,
      stored: new Promise<boolean>((resolve) => (storedResult = resolve)),
      fill: Promise.resolve(undefined as unknown as BlobFill),
    };
    active.fill = this.download(entry, name, digest).then(
      ({ fill, body, started }) => {
        active.size = fill.size;
        const namespace = entry.namespace.name;
        const settle = () => {
          this.metrics.received(namespace, fill.received);
          return (performance.now() - started) / 1000;
        };
        fill
          .fill(body)
          .then(async () => {
            await this.content.storeBlob(name, digest, fill.size, { stream: () => fill.spooled(), localFile: fill.spoolFile });
            this.metrics.filled(namespace, 'stored', settle());
            storedResult(true);
            setTimeout(() => this.forget(key, active, fill), STORED_GRACE_MS).unref();
          })
          .catch((err) => {
            storedResult(false);
            this.metrics.filled(namespace, 'failed', settle());
            this.forget(key, active, fill);
            if (err?.code?.startsWith?.('UND_ERR') || /broke off/.test(err?.message)) this.directory.failed(entry, `the blob download broke off (${err.code ?? err.message})`);
            else if (err instanceof RegistryError && err.code === 'DENIED') this.notCached(entry, err.message);
            else this.logger.warn(`caching ${digest} for ${name} failed: ${err.message}`);
          });
        return fill;
      },
      (err) => {
        storedResult(false);
        this.forget(key, active);
        throw err;
      },
    );
    return active;
  }

  /** The upstream's answer to the blob GET, with a fill ready for its body. */
  private async download(entry: ProxyEntry, name: string, digest: string): Promise<{ fill: BlobFill; body: UpstreamResponse['body']; started: number }> {
    parseDigest(digest);
    this.refuseInReadOnlyMode(entry);
    const started = performance.now();
    const repository = upstreamRepository(entry.namespace, name);
    const res = await this.call(entry, { method: 'GET', path: `${repository}/blobs/${digest}`, repository }, 'blob');
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw refused(entry, res.statusCode, 'BLOB_UNKNOWN', `blob ${digest} unknown upstream`, { digest });
    }
    const size = Number(res.headers['content-length']);
    if (!Number.isSafeInteger(size) || size < 0) {
      await res.body.dump().catch(() => undefined);
      throw unavailable(entry, 'the upstream sent no Content-Length for the blob');
    }
    try {
      return { fill: await BlobFill.create(await this.spool(), digest, size), body: res.body, started };
    } catch (err) {
      await res.body.dump().catch(() => undefined);
      throw err;
    }
  }

  private async fetchReferrers(entry: ProxyEntry, name: string, digest: string): Promise<Descriptor[]> {
    const repository = upstreamRepository(entry.namespace, name);
    const res = await this.call(entry, { method: 'GET', path: `${repository}/referrers/${digest}`, repository, headers: { accept: MediaTypes.OCI_INDEX } }, 'referrers');
    if (res.statusCode === 200) return indexDescriptors(await readLimited(res, this.config.manifestMaxBytes, entry), entry);
    await res.body.dump().catch(() => undefined);
    if (res.statusCode !== 404 && res.statusCode !== 400 && res.statusCode !== 405) {
      throw refused(entry, res.statusCode, 'NAME_UNKNOWN', `referrers of ${digest} unknown upstream`, { digest });
    }
    // No referrers API upstream: the OCI fallback tag, an index of the referrers.
    const tag = digest.replace(':', '-');
    const fallback = await this.call(entry, { method: 'GET', path: `${repository}/manifests/${tag}`, repository, headers: { accept: MediaTypes.OCI_INDEX } }, 'referrers');
    if (fallback.statusCode === 404) {
      await fallback.body.dump().catch(() => undefined);
      return [];
    }
    if (fallback.statusCode !== 200) {
      await fallback.body.dump().catch(() => undefined);
      throw refused(entry, fallback.statusCode, 'NAME_UNKNOWN', `referrers of ${digest} unknown upstream`, { digest });
    }
    return indexDescriptors(await readLimited(fallback, this.config.manifestMaxBytes, entry), entry);
  }

  /**
   * One request upstream, counted; 5xx, 429 and network failures mark the upstream failing
   * and throw UNAVAILABLE with its condition, anything else marks it answering.
   */
  private async call(entry: ProxyEntry, req: UpstreamRequest, kind: 'manifest' | 'blob' | 'referrers'): Promise<UpstreamResponse> {
    const namespace = entry.namespace.name;
    let res: UpstreamResponse;
    try {
      res = await entry.client.send(req);
    } catch (err) {
      this.metrics.upstreamAnswered(namespace, 'error');
      if (err instanceof UpstreamAuthError) {
        // The credentials (or their absence) are refused: not an outage, and not the client's fault either.
        this.directory.failed(entry, err.message);
        throw new RegistryError(UNKNOWN_CODES[kind], `the upstream of ${namespace} refused access: ${err.message}`);
      }
      const condition = err instanceof UpstreamUnreachableError ? err.message : 'the request failed';
      this.directory.failed(entry, condition);
      throw unavailable(entry, condition);
    }
    this.metrics.upstreamAnswered(namespace, res.statusCode);
    if (res.statusCode >= 500 || res.statusCode === 429) {
      await res.body.dump().catch(() => undefined);
      const condition = `the upstream answered ${res.statusCode} to a ${kind} request`;
      this.directory.failed(entry, condition);
      throw unavailable(entry, condition);
    }
    this.directory.succeeded(entry);
    return res;
  }
}

const UNKNOWN_CODES = { manifest: 'MANIFEST_UNKNOWN', blob: 'BLOB_UNKNOWN', referrers: 'NAME_UNKNOWN' } as const;

/** The upstream is failing (not: it said no): cached content is served instead. */
function isUpstreamFailure(err: unknown): boolean {
  return err instanceof RegistryError && err.code === 'UNAVAILABLE';
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function unavailable(entry: ProxyEntry, condition: string): RegistryError {
  return new RegistryError('UNAVAILABLE', `upstream of ${entry.namespace.name}: ${condition}`);
}

/** An upstream's non-200 answer as this registry's: 404 is unknown here too, 401/403 say the upstream refused. */
function refused(entry: ProxyEntry, status: number, code: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN', message: string, detail: unknown): RegistryError {
  if (status === 401 || status === 403) {
    return new RegistryError(code, `${message}: the upstream of ${entry.namespace.name} refused access (${status}); the image may not exist there, or need credentials`, detail);
  }
  if (status === 404) return new RegistryError(code, message, detail);
  return unavailable(entry, `the upstream answered ${status}`);
}

function manifestUnknown(name: string, reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference.slice(0, 300)} unknown in ${name}`, { reference: reference.slice(0, 300) });
}

async function readLimited(res: UpstreamResponse, limit: number, entry: ProxyEntry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        res.body.destroy();
        throw unavailable(entry, `the upstream sent a document larger than ${limit} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    throw unavailable(entry, 'the upstream broke off');
  }
  return Buffer.concat(chunks);
}

function indexDescriptors(content: Buffer, entry: ProxyEntry): Descriptor[] {
  try {
    return parseManifest(content, MediaTypes.OCI_INDEX).manifests.map((d) => ({ ...d }));
  } catch (err) {
    throw unavailable(entry, `the upstream sent referrers Berth cannot read: ${err.message}`);
  }
}
