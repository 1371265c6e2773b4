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

interface QuotaRow {
  quota_bytes: string | null;
  quota_counted_bytes: string | null;
}

/**
 * Namespace byte quotas. An addition is checked inside the transaction that links it,
 * holding its namespace's row lock, so two pushes into one namespace cannot both take
 * the last bytes. The check compares against `quota_counted_bytes`, a running count
 * kept under that lock: an upper bound of the usage (deletions lower the usage, not
 * the count), recounted exactly before any refusal. So the common check costs a few
 * indexed look-ups, whatever the namespace holds; namespaces without a quota pay one.
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
    const [row]: QuotaRow[] = await this.dataSource.query('SELECT quota_bytes, quota_counted_bytes FROM namespaces WHERE name = $1', [namespace]);
    if (row?.quota_bytes == null) return;
    const quota = Number(row.quota_bytes);
    if (row.quota_counted_bytes !== null && Number(row.quota_counted_bytes) < quota) return;
    const used = (await this.usage.ofNamespace(namespace)).totalBytes;
    // Kept for the next sessions, unless a completion counted meanwhile (under the row lock).
    if (row.quota_counted_bytes === null) {
      await this.dataSource.query('UPDATE namespaces SET quota_counted_bytes = $2 WHERE name = $1 AND quota_counted_bytes IS NULL', [namespace, used]);
    }
    if (used >= quota) {
      throw new RegistryError('DENIED', `namespace "${namespace}" quota exceeded: ${formatBytes(used)} used of ${formatBytes(quota)}`, {
        namespace,
        quotaBytes: quota,
        usedBytes: used,
      });
    }
  }

  /**
   * Inside the caller's transaction, before it writes anything (so that no other row
   * lock is held while waiting): locks the namespace's row, then refuses an addition
   * that does not fit, or counts it.
   */
  async check(manager: EntityManager, repository: string, addition: Addition): Promise<void> {
    const namespace = namespaceOf(repository);
    // Only a namespace with a quota is locked (FOR UPDATE locks the rows it returns).
    const [row]: QuotaRow[] = await manager.query(
      'SELECT quota_bytes, quota_counted_bytes FROM namespaces WHERE name = $1 AND quota_bytes IS NOT NULL FOR UPDATE',
      [namespace],
    );
    if (row?.quota_bytes == null || (await this.counted(manager, namespace, repository, addition))) return;
    const quota = Number(row.quota_bytes);
    let counted = row.quota_counted_bytes === null ? null : Number(row.quota_counted_bytes);
    if (counted === null || counted + addition.bytes > quota) counted = (await this.usage.ofNamespace(namespace, manager)).totalBytes;
    if (counted + addition.bytes > quota) {
      throw new RegistryError(
        'DENIED',
        `namespace "${namespace}" quota exceeded: ${formatBytes(counted)} used of ${formatBytes(quota)}, this ${addition.kind} needs ${formatBytes(addition.bytes)}`,
        { namespace, quotaBytes: quota, usedBytes: counted, neededBytes: addition.bytes },
      );
    }
    await manager.query('UPDATE namespaces SET quota_counted_bytes = $2 WHERE name = $1', [namespace, counted + addition.bytes]);
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
}
