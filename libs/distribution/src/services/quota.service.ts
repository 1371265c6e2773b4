import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { namespaceOf } from '@berth/auth';
import { RegistryError } from '@berth/core';
import type { EventContext, EventDraft } from '@berth/notifications';
import { formatBytes } from './byte-size.js';
import { RegistryEvents } from './registry-events.js';
import { StorageUsageService } from './storage-usage.service.js';

/**
 * What a push adds: a blob, counting nothing when a repository of the namespace already
 * links it, or a manifest, counting nothing when its repository already stores it.
 */
export interface Addition {
  kind: 'blob' | 'manifest';
  digest: string;
  bytes: number;
}

/** First key of the two-key advisory locks that serialise one namespace's additions. */
const QUOTA_LOCK = 0x71756f74;

/**
 * Namespace byte quotas. An addition is checked inside the transaction that links it,
 * holding an advisory lock on its namespace, so two pushes into one namespace cannot
 * both take the last bytes; namespaces without a quota take no lock and pay one
 * indexed lookup.
 */
@Injectable()
export class QuotaService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly usage: StorageUsageService,
    private readonly events: RegistryEvents,
  ) {}

  /** Refuses a new upload while the namespace is full (the check at linking time is the one that holds). */
  async refuseWhenFull(repository: string): Promise<void> {
    const namespace = namespaceOf(repository);
    const quota = await this.quotaOf(namespace, this.dataSource.manager);
    if (quota === null) return;
    const used = (await this.usage.ofNamespace(namespace)).totalBytes;
    if (used >= quota) {
      throw new RegistryError(
        'DENIED',
        `namespace "${namespace}" quota exceeded: ${formatBytes(used)} used of ${formatBytes(quota)}`,
        { namespace, quotaBytes: quota, usedBytes: used },
      );
    }
  }

  /**
   * Inside the caller's transaction, before it writes anything (so that no row lock is
   * held while waiting): takes the namespace's lock, then refuses an addition that does not fit.
   */
  async check(manager: EntityManager, repository: string, addition: Addition): Promise<void> {
    const namespace = namespaceOf(repository);
    const quota = await this.quotaOf(namespace, manager);
    if (quota === null) return;
    await manager.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [QUOTA_LOCK, namespace]);
    if (await this.counted(manager, namespace, repository, addition)) return;
    const used = (await this.usage.ofNamespace(namespace, manager)).totalBytes;
    if (used + addition.bytes > quota) {
      throw new RegistryError(
        'DENIED',
        `namespace "${namespace}" quota exceeded: ${formatBytes(used)} used of ${formatBytes(quota)}, this ${addition.kind} needs ${formatBytes(addition.bytes)}`,
        { namespace, quotaBytes: quota, usedBytes: used, neededBytes: addition.bytes },
      );
    }
  }

  /**
   * RegistryEvents.commit under the quota: `change` runs after the check, always in a
   * transaction (the caller takes transaction-scoped locks in it, see lockBlobDigest).
   */
  async commit<T>(
    context: EventContext,
    repository: string,
    addition: Addition,
    change: (manager: EntityManager) => Promise<{ result: T; events: EventDraft[] }>,
  ): Promise<T> {
    return this.dataSource.transaction(async (manager) => {
      await this.check(manager, repository, addition);
      const { result, events } = await change(manager);
      await this.events.record(manager, context, events);
      return result;
    });
  }

  private async counted(manager: EntityManager, namespace: string, repository: string, addition: Addition): Promise<boolean> {
    if (addition.kind === 'blob') return this.usage.linkedInNamespace(namespace, addition.digest, manager);
    const rows: unknown[] = await manager.query(
      'SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2',
      [repository, addition.digest],
    );
    return rows.length > 0;
  }

  private async quotaOf(namespace: string, manager: EntityManager): Promise<number | null> {
    const rows: { quota_bytes: string | null }[] = await manager.query('SELECT quota_bytes FROM namespaces WHERE name = $1', [namespace]);
    return rows[0]?.quota_bytes == null ? null : Number(rows[0].quota_bytes);
  }
}
