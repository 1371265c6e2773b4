import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { type EventContext, type EventDraft, EventOutbox, type RegistryEvent } from '@berth/notifications';

/**
 * Emits registry events for the distribution services: a change and its events
 * commit in one transaction (the outbox); pulls are queued off the request path.
 * With notifications off, a change runs alone, without the transaction's extra round trips.
 */
@Injectable()
export class RegistryEvents {
  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: EventOutbox,
    private readonly config: BerthConfig,
  ) {}

  /**
   * Runs `change` and records the events it returns, atomically. `audited`: the change
   * writes an audit entry, so it runs in a transaction even with notifications off.
   */
  async commit<T>(
    context: EventContext,
    change: (manager: EntityManager) => Promise<{ result: T; events: EventDraft[] }>,
    options: { audited?: boolean } = {},
  ): Promise<T> {
    if (!this.outbox.enabled && !options.audited) return (await change(this.dataSource.manager)).result;
    if (!this.outbox.enabled) return this.dataSource.transaction(async (manager) => (await change(manager)).result);
    return this.dataSource.transaction(async (manager) => {
      const { result, events } = await change(manager);
      await this.outbox.record(manager, context, events);
      return result;
    });
  }

  /** Records events inside a transaction the caller already runs. */
  record(manager: EntityManager, context: EventContext, events: EventDraft[]): Promise<void> {
    return this.outbox.enabled ? this.outbox.record(manager, context, events) : Promise.resolve();
  }

  /** `target` is only built when notifications are on: pulls are the hot path. */
  pulled(context: EventContext, target: () => RegistryEvent['target']): void {
    if (this.outbox.enabled) this.outbox.recordPull(context, { action: 'pull', target: target() });
  }

  blobTarget(context: EventContext, repository: string, digest: string, size?: number): RegistryEvent['target'] {
    return {
      mediaType: 'application/octet-stream',
      digest,
      ...(size !== undefined ? { size, length: size } : {}),
      repository,
      url: this.url(context, `/v2/${repository}/blobs/${digest}`),
    };
  }

  manifestTarget(
    context: EventContext,
    repository: string,
    manifest: { digest: string; mediaType?: string; size?: number },
    tag?: string,
  ): RegistryEvent['target'] {
    return {
      ...(manifest.mediaType ? { mediaType: manifest.mediaType } : {}),
      digest: manifest.digest,
      ...(manifest.size !== undefined ? { size: manifest.size, length: manifest.size } : {}),
      repository,
      url: this.url(context, `/v2/${repository}/manifests/${manifest.digest}`),
      ...(tag ? { tag } : {}),
    };
  }

  private url(context: EventContext, path: string): string {
    return `${this.config.publicUrl ?? `http://${context.host}`}${path}`;
  }
}
