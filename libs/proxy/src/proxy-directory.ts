import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { namespaceOf } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { SecretBox, TargetPolicy } from '@berth/notifications';
import { type UpstreamRow, ProxyNamespaceStore } from './proxy-namespace.store.js';
import { UpstreamClient } from './upstream-client.js';
import type { ProxyNamespace } from './upstream-settings.js';

/** How often every replica reads the proxy namespaces again: a change made on another replica is seen within this. */
export const DIRECTORY_REFRESH_MS = 5000;
/** Health is written at most this often per namespace while nothing changes. */
const HEALTH_WRITE_MS = 30_000;

/** One proxy namespace with its upstream connection and what this replica saw of the upstream's health. */
export interface ProxyEntry {
  namespace: ProxyNamespace;
  client: UpstreamClient;
  version: number;
  /** Why this replica cannot serve it (its secrets do not decrypt with this SECRETS_KEY); pushes stay refused. */
  broken?: string;
  /** Since when the upstream has been failing, in this replica; null while it answers. */
  downSince: number | null;
  lastHealthWrite: number;
}

/**
 * The proxy namespaces, in memory: which names are served from an upstream is decided on
 * every request, so it must not cost a query. Read at start, every DIRECTORY_REFRESH_MS,
 * and right after a change made through this replica. Also keeps each upstream's health:
 * an outage is logged once when it starts and once when it ends, and written (last
 * success, last error) for the admin API.
 */
@Injectable()
export class ProxyDirectory implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Proxy');
  private byName = new Map<string, ProxyEntry>();
  private byHost = new Map<string, ProxyEntry>();
  private timer?: NodeJS.Timeout;
  private readonly policy: TargetPolicy;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
    private readonly store: ProxyNamespaceStore,
    private readonly secrets: SecretBox,
  ) {
    this.policy = new TargetPolicy(config.proxy.allowPrivateTargets, undefined, {
      allowPrivateNetworks: config.proxy.allowPrivateNetworks,
      purpose: { what: 'proxy upstreams', settingPrefix: 'PROXY' },
    });
  }

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => this.reload().catch((err) => this.logger.warn(`reading the proxy namespaces failed: ${err.message}`)), DIRECTORY_REFRESH_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.byName.values()].map((e) => e.client.close()));
  }

  /** The policy upstream URLs are checked against when saved. */
  get targetPolicy(): TargetPolicy {
    return this.policy;
  }

  /** The proxy namespace `name` (a repository name) lies in, if any. */
  covering(name: string): ProxyEntry | undefined {
    return this.byName.get(namespaceOf(name));
  }

  /** The proxy namespace whose upstream is `host` (`?ns=`), if any. */
  forHost(host: string): ProxyEntry | undefined {
    return this.byHost.get(host);
  }

  get(namespace: string): ProxyEntry | undefined {
    return this.byName.get(namespace);
  }

  async reload(): Promise<void> {
    const rows = await this.store.all(this.dataSource.manager);
    const byName = new Map<string, ProxyEntry>();
    for (const row of rows) {
      const version = row.updatedAt.getTime();
      const previous = this.byName.get(row.namespace);
      if (previous && previous.version === version && previous.namespace.id === row.namespaceId) {
        byName.set(row.namespace, previous);
        continue;
      }
      const { namespace, broken } = this.unseal(row);
      byName.set(row.namespace, {
        namespace,
        broken,
        client: new UpstreamClient(namespace.settings, this.policy, this.config.proxy.timeoutMs),
        version,
        downSince: previous?.downSince ?? null,
        lastHealthWrite: 0,
      });
    }
    const replaced = [...this.byName.values()].filter((e) => byName.get(e.namespace.name) !== e);
    this.byName = byName;
    this.byHost = new Map();
    // Several namespaces may mirror one host: `?ns=` takes the first by name.
    for (const entry of [...byName.values()].sort((a, b) => a.namespace.name.localeCompare(b.namespace.name))) {
      if (!this.byHost.has(entry.namespace.host)) this.byHost.set(entry.namespace.host, entry);
    }
    // Requests under way finish on the old pool: closing waits for them.
    for (const entry of replaced) void entry.client.close();
  }

  /** The upstream answered (any status but 5xx or 429). */
  succeeded(entry: ProxyEntry): void {
    const now = Date.now();
    if (entry.downSince !== null) {
      this.logger.log(`upstream ${entry.client.origin} of ${entry.namespace.name} answers again after ${Math.round((now - entry.downSince) / 1000)} s`);
      entry.downSince = null;
      entry.lastHealthWrite = 0;
    }
    if (now - entry.lastHealthWrite < HEALTH_WRITE_MS) return;
    entry.lastHealthWrite = now;
    this.store.recordSuccess(this.dataSource.manager, entry.namespace.id).catch(() => undefined);
  }

  /** The upstream could not be reached, or answered 5xx or 429. */
  failed(entry: ProxyEntry, condition: string): void {
    const now = Date.now();
    if (entry.downSince === null) {
      this.logger.warn(`upstream ${entry.client.origin} of ${entry.namespace.name} is failing: ${condition}; serving what is cached`);
      entry.downSince = now;
      entry.lastHealthWrite = 0;
    }
    if (now - entry.lastHealthWrite < HEALTH_WRITE_MS) return;
    entry.lastHealthWrite = now;
    this.store.recordError(this.dataSource.manager, entry.namespace.id, condition).catch(() => undefined);
  }

  /** The namespace with its secrets in the clear; `broken` (logged once per version) when they do not decrypt. */
  private unseal(row: UpstreamRow): { namespace: ProxyNamespace; broken?: string } {
    const namespace: ProxyNamespace = {
      id: row.namespaceId,
      name: row.namespace,
      host: row.host,
      settings: {
        url: row.url,
        pathPrefix: row.pathPrefix,
        username: row.username,
        password: null,
        token: null,
        insecure: row.insecure,
        caBundle: row.caBundle,
        tagTtlSeconds: row.tagTtlSeconds,
      },
    };
    try {
      namespace.settings.password = row.sealedPassword === null ? null : this.secrets.decrypt(row.sealedPassword);
      namespace.settings.token = row.sealedToken === null ? null : this.secrets.decrypt(row.sealedToken);
      return { namespace };
    } catch (err) {
      this.logger.error(`proxy namespace ${row.namespace} cannot be served by this replica: ${err.message}`);
      return { namespace, broken: 'its upstream credentials cannot be decrypted here (SECRETS_KEY differs between replicas?)' };
    }
  }
}
