import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { Counter, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { ManifestChanges } from '@berth/database';

export interface CachedManifest {
  digest: string;
  mediaType: string;
  content: Buffer;
}

export const MANIFEST_CHANNEL = 'berth_manifests';
/** How the listener's connection shows in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'berth-manifest-cache';
const MAX_BYTES = 16 * 1024 * 1024;
const MAX_ENTRY_BYTES = 256 * 1024;
const PING_EVERY_MS = 5_000;
const RECONNECT_MAX_MS = 5_000;

/** The fields of the app's Postgres DataSource options a second connection needs. */
interface ConnectionOptions {
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: unknown;
  database?: string;
  ssl?: pg.ClientConfig['ssl'];
}

interface Entry {
  repository: string;
  manifest: CachedManifest;
}

/**
 * Manifest lookups by (repository, tag or digest), kept only while a dedicated connection
 * LISTENs on `berth_manifests` (migration 1765000000070 notifies every change with the
 * repository's name). A change on another replica is dropped here when its notification
 * arrives; while the listener is down (or unproven for 5 s) nothing is served from here.
 * Local writers drop their repository through ManifestChanges right after their commit.
 * A lookup stores what it read only if no drop happened since it began (`epoch`): a read
 * may have started before a change it did not see.
 */
@Injectable()
export class ManifestCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ManifestCache.name);
  private readonly entries = new LRUCache<string, Entry>({
    maxSize: MAX_BYTES,
    sizeCalculation: (entry) => entry.manifest.content.length + 200,
    dispose: (entry, key) => {
      const keys = this.byRepository.get(entry.repository);
      keys?.delete(key);
      if (keys?.size === 0) this.byRepository.delete(entry.repository);
    },
  });
  private readonly byRepository = new Map<string, Set<string>>();
  private epoch = 0;
  private client?: pg.Client;
  private listening = false;
  private closed = false;
  private retryMs = 100;
  private timer?: NodeJS.Timeout;
  private readonly lookups?: Counter<'result'>;

  constructor(
    private readonly config: BerthConfig,
    private readonly dataSource: DataSource,
    changes: ManifestChanges,
    @Optional() registry?: Registry,
  ) {
    changes.onChange((repositories) => (repositories === 'all' ? this.clear() : repositories.forEach((name) => this.drop(name))));
    if (registry) {
      this.lookups = new Counter({ name: 'berth_manifest_cache_total', help: 'Manifest lookups, by result: hit, miss, or bypass (cache off or listener down)', labelNames: ['result'], registers: [registry] });
      for (const result of ['hit', 'miss', 'bypass']) this.lookups.inc({ result }, 0);
    }
  }

  /** The cached manifest, or `read()`'s answer (stored when it is safe to). */
  async get(repository: string, reference: string, read: () => Promise<CachedManifest | undefined>): Promise<CachedManifest | undefined> {
    if (!this.listening) {
      this.lookups?.inc({ result: 'bypass' });
      return read();
    }
    const key = `${repository} ${reference}`;
    const entry = this.entries.get(key);
    if (entry) {
      this.lookups?.inc({ result: 'hit' });
      return entry.manifest;
    }
    this.lookups?.inc({ result: 'miss' });
    const epoch = this.epoch;
    const manifest = await read();
    if (manifest && this.listening && this.epoch === epoch && manifest.content.length <= MAX_ENTRY_BYTES) {
      this.entries.set(key, { repository, manifest });
      let keys = this.byRepository.get(repository);
      if (!keys) this.byRepository.set(repository, (keys = new Set()));
      keys.add(key);
    }
    return manifest;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.manifestCache) await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
  }

  private drop(repository: string): void {
    this.epoch++;
    for (const key of [...(this.byRepository.get(repository) ?? [])]) this.entries.delete(key);
  }

  private clear(): void {
    this.epoch++;
    this.entries.clear();
  }

  private async connect(): Promise<void> {
    const options = this.dataSource.options as ConnectionOptions;
    const client = new pg.Client({
      connectionString: options.url,
      host: options.host,
      port: options.port,
      user: options.username,
      password: typeof options.password === 'string' ? options.password : undefined,
      database: options.database,
      ssl: options.ssl,
      application_name: LISTENER_APPLICATION_NAME,
      keepAlive: true,
    });
    this.client = client;
    client.on('notification', (message) => {
      if (message.channel === MANIFEST_CHANNEL && message.payload !== undefined) this.drop(message.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${MANIFEST_CHANNEL}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.client !== client || this.closed) return;
    // A change may have gone unheard before the LISTEN took effect.
    this.clear();
    this.listening = true;
    this.retryMs = 100;
    this.schedulePing(client);
  }

  /** A silently cut connection hears nothing: one that does not answer within PING_EVERY_MS counts as lost. */
  private schedulePing(client: pg.Client): void {
    this.timer = setTimeout(() => {
      const late = setTimeout(() => this.lost(client, new Error('no answer to the listener ping')), PING_EVERY_MS);
      client.query('SELECT 1').then(
        () => {
          clearTimeout(late);
          if (this.client === client && this.listening) this.schedulePing(client);
        },
        (err: Error) => {
          clearTimeout(late);
          this.lost(client, err);
        },
      );
    }, PING_EVERY_MS);
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.listening = false;
    this.clear();
    clearTimeout(this.timer);
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.logger.warn(`manifest cache off: its listener lost the database (${err?.message ?? 'connection ended'}); reconnecting`);
    this.timer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MAX_MS);
  }
}
