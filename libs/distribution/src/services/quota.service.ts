import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { namespaceOf } from '@berth/auth';
import { RegistryError } from '@berth/core';
import type { EventContext, EventDraft } from '@berth/notifications';
import { type ClaimedUpload, UploadStore } from './upload.store.js';
import type { NamespaceQuota } from './repository.store.js';
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
  /** The upload session the blob completes, whose bytes were admitted beside the staged ones (see admitStaged). */
  session?: string;
}

/**
 * How many more bytes a write may stage: `limit` at once (from the running count, a lower
 * bound), `raise()` for the exact figure once that is not enough, and the refusal of a
 * write that needs `bytes` in all.
 */
export interface Allowance {
  limit: number;
  raise(): Promise<number>;
  refusal(bytes: number): RegistryError;
}

interface QuotaRow {
  quota_bytes: string | null;
  quota_counted_bytes: string | null;
}

/**
 * Namespace byte quotas. What is stored plus what open upload sessions have staged must
 * fit: staged bytes are counted when a chunk is recorded, stored ones when a push links
 * them. Both checks run inside the transaction that records the change, holding the
 * namespace's row lock, so two pushes into one namespace cannot both take the last
 * bytes. Stored usage is compared against `quota_counted_bytes`, a running count kept
 * under that lock: an upper bound of the usage (deletions lower the usage, not the
 * count), recounted exactly before any refusal. So the common check costs a few indexed
 * look-ups, whatever the namespace holds; namespaces without a quota pay one.
 */
@Injectable()
export class QuotaService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly usage: StorageUsageService,
    private readonly events: RegistryEvents,
    private readonly uploads: UploadStore,
  ) {}

  /**
   * Refuses a new upload while the namespace is full (the checks when bytes are recorded
   * are the ones that hold); else what a single-request upload may stage, undefined
   * without a quota. `quota`: the namespace's figures as just read (RepositoryService.pushTarget),
   * undefined when it has no row.
   */
  async refuseWhenFull(repository: string, quota: NamespaceQuota | undefined, digest?: string): Promise<Allowance | undefined> {
    if (quota?.quotaBytes == null) return undefined;
    const namespace = namespaceOf(repository);
    const { quotaBytes, quotaCountedBytes: counted, stagedBytes: staged } = quota;
    if (counted !== null && counted + staged < quotaBytes) {
      return this.allowanceOf(namespace, null, digest, quotaBytes, counted, staged, 0);
    }
    const used = (await this.usage.ofNamespace(namespace)).totalBytes;
    // Kept for the next sessions, unless a completion counted meanwhile (under the row lock).
    if (counted === null) {
      await this.dataSource.query('UPDATE namespaces SET quota_counted_bytes = $2 WHERE name = $1 AND quota_counted_bytes IS NULL', [namespace, used]);
    }
    if (used + staged >= quotaBytes) throw exceeded(namespace, quotaBytes, used, staged);
    return this.allowanceOf(namespace, null, digest, quotaBytes, used, staged, 0);
  }

  /**
   * What a chunk written to a claimed session may stage; undefined when its namespace has
   * no quota. `digest`: the blob it completes, when known (the last chunk of a PUT).
   */
  async allowance(upload: ClaimedUpload & { id: string }, digest?: string): Promise<Allowance | undefined> {
    const { quotaBytes: quota, quotaCountedBytes: counted, namespace, id, size } = upload;
    if (quota === null) return undefined;
    const allowance = this.allowanceOf(namespace, id, digest, quota, counted ?? 0, upload.stagedBytes, size);
    if (counted === null) allowance.limit = await allowance.raise();
    return allowance;
  }

  /**
   * An allowance from the figures at hand; `raise` recounts them exactly (outside any lock:
   * the check when recording holds), leaving out sessions completing as the same `digest`.
   */
  private allowanceOf(
    namespace: string,
    session: string | null,
    digest: string | undefined,
    quota: number,
    used: number,
    staged: number,
    size: number,
  ): Allowance {
    const figures = { used, staged };
    return {
      limit: quota - used - staged - size,
      raise: async () => {
        figures.used = (await this.usage.ofNamespace(namespace)).totalBytes;
        figures.staged = await this.uploads.stagedBytes(namespace, session, digest);
        return quota - figures.used - figures.staged - size;
      },
      refusal: (bytes) => exceeded(namespace, quota, figures.used, figures.staged, { kind: 'blob', bytes }),
    };
  }

  /**
   * Inside the caller's transaction, before it records `size` as session `id`'s staged
   * bytes: locks the namespace's row and refuses a size that does not fit beside what
   * is stored and what the namespace's other sessions stage. A session completing as
   * `digest`, a blob the namespace already links, stages nothing that will count.
   */
  async admitStaged(manager: EntityManager, namespace: string, id: string, size: number, digest?: string): Promise<void> {
    const [row]: QuotaRow[] = await manager.query(
      'SELECT quota_bytes, quota_counted_bytes FROM namespaces WHERE name = $1 AND quota_bytes IS NOT NULL FOR UPDATE',
      [namespace],
    );
    if (row?.quota_bytes == null) return;
    const quota = Number(row.quota_bytes);
    // Read after the lock: a session recorded by the transaction that held it is seen.
    let staged = await this.uploads.stagedBytes(namespace, id, null, manager);
    let used = row.quota_counted_bytes === null ? null : Number(row.quota_counted_bytes);
    if (used !== null && used + staged + size <= quota) return;
    if (digest && (await this.usage.linkedInNamespace(namespace, digest, manager))) return;
    // Sessions completing as the same blob stage it once between them.
    if (digest) staged = await this.uploads.stagedBytes(namespace, id, digest, manager);
    used = (await this.usage.ofNamespace(namespace, manager)).totalBytes;
    // Exact under the row lock: kept, so that the next chunks do not count the namespace again.
    await manager.query('UPDATE namespaces SET quota_counted_bytes = $2 WHERE name = $1', [namespace, used]);
    if (used + staged + size > quota) throw exceeded(namespace, quota, used, staged, { kind: 'blob', bytes: size });
  }

  /** The blob's size when a repository of `repository`'s namespace links it already (so it adds nothing). */
  async heldSize(repository: string, digest: string): Promise<number | undefined> {
    return this.usage.linkedSizeInNamespace(namespaceOf(repository), digest);
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
    // A session's completion was admitted beside the other sessions when it recorded its
    // digest (admitStaged): what they stage already fits. Other additions count them here.
    const staged = addition.session ? 0 : await this.uploads.stagedBytes(namespace, null, addition.kind === 'blob' ? addition.digest : null, manager);
    let counted = row.quota_counted_bytes === null ? null : Number(row.quota_counted_bytes);
    if (counted === null || counted + staged + addition.bytes > quota) counted = (await this.usage.ofNamespace(namespace, manager)).totalBytes;
    if (counted + staged + addition.bytes > quota) throw exceeded(namespace, quota, counted, staged, addition);
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

/** The quota refusal; `staged` is only named when open uploads hold some of the bytes. */
function exceeded(namespace: string, quota: number, used: number, staged: number, addition?: { kind: string; bytes: number }): RegistryError {
  const stagedNote = staged > 0 ? ` (and ${formatBytes(staged)} staged in open uploads)` : '';
  const need = addition ? `, this ${addition.kind} needs ${formatBytes(addition.bytes)}` : '';
  return new RegistryError('DENIED', `namespace "${namespace}" quota exceeded: ${formatBytes(used)} used${stagedNote} of ${formatBytes(quota)}${need}`, {
    namespace,
    quotaBytes: quota,
    usedBytes: used,
    stagedBytes: staged,
    ...(addition ? { neededBytes: addition.bytes } : {}),
  });
}
