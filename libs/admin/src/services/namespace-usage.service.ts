import { Injectable } from '@nestjs/common';
import { type NamespaceUsage, StorageUsageService } from '@berth/distribution';
import { type ChangeContext, NamespaceService } from '../auth.js';

export interface NamespaceUsageView extends NamespaceUsage {
  /** null: no quota. */
  quotaBytes: number | null;
}

/** A namespace's deduplicated storage usage beside its quota. */
@Injectable()
export class NamespaceUsageService {
  constructor(
    private readonly namespaces: NamespaceService,
    private readonly usage: StorageUsageService,
  ) {}

  async get(name: string): Promise<NamespaceUsageView> {
    const quotaBytes = await this.namespaces.quota(name);
    return { ...(await this.usage.ofNamespace(name)), quotaBytes };
  }

  async setQuota(name: string, quotaBytes: number | null, ctx: ChangeContext): Promise<NamespaceUsageView> {
    await this.namespaces.setQuota(name, quotaBytes, ctx);
    return this.get(name);
  }
}
