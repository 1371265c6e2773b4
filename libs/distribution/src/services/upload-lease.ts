import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { ClaimedUpload, UploadStore } from './upload.store.js';

/** How long a claim lasts unless renewed: the longest a crashed writer keeps its session blocked. */
const LEASE_SECONDS = 30;

/**
 * One request's claim on an upload session (the row's `writer`), so that requests on
 * different replicas never write the same staged bytes at once. Renewed every ten
 * seconds while the request runs, which also keeps a long-running upload from the
 * stale-upload purge; `onLost` fires when a renewal finds the claim gone (it lapsed and
 * another request took it, or the session was deleted), and the request must stop.
 */
export class UploadLease {
  private readonly token = randomUUID();
  private readonly timer: NodeJS.Timeout;
  private released = false;
  private lost?: () => void;

  private constructor(private readonly store: UploadStore, private readonly id: string) {
    this.timer = setInterval(() => void this.renew(), (LEASE_SECONDS * 1000) / 3).unref();
  }

  /** Claims session `id` of repository `name`: its state, or undefined when it is unknown or claimed by another request. */
  static async claim(store: UploadStore, name: string, id: string): Promise<({ lease: UploadLease } & ClaimedUpload) | undefined> {
    const lease = new UploadLease(store, id);
    const claimed = await store.claim(name, id, lease.token, LEASE_SECONDS).catch((err) => {
      clearInterval(lease.timer);
      throw err;
    });
    if (!claimed) {
      clearInterval(lease.timer);
      return undefined;
    }
    return { lease, ...claimed };
  }

  onLost(handler: () => void): void {
    this.lost = handler;
  }

  /**
   * Records the new size and gives the session up in one statement (in `manager`'s
   * transaction when given); false when the claim was lost meanwhile.
   */
  async commitSize(size: number, manager?: EntityManager): Promise<boolean> {
    clearInterval(this.timer);
    this.released = true;
    return this.store.commitSize(this.id, this.token, size, manager);
  }

  /** Records, before they move, the blob the session's `size` bytes were verified to be; false when the claim was lost. */
  async recordTarget(digest: string, size: number, manager?: EntityManager): Promise<boolean> {
    return this.store.recordTarget(this.id, this.token, digest, size, manager);
  }

  /** The session row is gone (the upload completed): stops renewing, nothing left to give up. */
  end(): void {
    clearInterval(this.timer);
    this.released = true;
  }

  /** Gives the session up (nothing happens when it is already released or ended). */
  async release(): Promise<void> {
    clearInterval(this.timer);
    if (this.released) return;
    this.released = true;
    await this.store.release(this.id, this.token);
  }

  private async renew(): Promise<void> {
    let renewed: boolean;
    try {
      renewed = await this.store.renew(this.id, this.token, LEASE_SECONDS);
    } catch {
      // The database is out of reach: so is every other writer. The next tick tries again.
      return;
    }
    if (renewed || this.released) return;
    clearInterval(this.timer);
    this.lost?.();
  }
}
