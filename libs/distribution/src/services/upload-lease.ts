import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';

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

  private constructor(private readonly dataSource: DataSource, private readonly id: string) {
    this.timer = setInterval(() => void this.renew(), (LEASE_SECONDS * 1000) / 3).unref();
  }

  /** Claims session `id` of repository `name`: its state, or undefined when it is unknown or claimed by another request. */
  static async claim(dataSource: DataSource, name: string, id: string): Promise<{ lease: UploadLease; repositoryId: number; size: number } | undefined> {
    const lease = new UploadLease(dataSource, id);
    const [rows]: [{ repository_id: string; size: string }[], number] = await dataSource
      .query(
        `UPDATE uploads u SET writer = $3, writer_until = now() + make_interval(secs => $4), updated_at = now()
           FROM repositories r
          WHERE u.id = $1 AND r.id = u.repository_id AND r.name = $2 AND (u.writer IS NULL OR u.writer_until < now())
        RETURNING u.repository_id, u.size`,
        [id, name, lease.token, LEASE_SECONDS],
      )
      .catch((err) => {
        clearInterval(lease.timer);
        throw err;
      });
    if (!rows.length) {
      clearInterval(lease.timer);
      return undefined;
    }
    return { lease, repositoryId: Number(rows[0].repository_id), size: Number(rows[0].size) };
  }

  onLost(handler: () => void): void {
    this.lost = handler;
  }

  /** Records the new size and gives the session up in one statement; false when the claim was lost meanwhile. */
  async commitSize(size: number): Promise<boolean> {
    clearInterval(this.timer);
    this.released = true;
    const [, updated] = (await this.dataSource.query(
      'UPDATE uploads SET size = $1, updated_at = now(), writer = NULL, writer_until = NULL WHERE id = $2 AND writer = $3',
      [size, this.id, this.token],
    )) as [unknown, number];
    return updated === 1;
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
    await this.dataSource.query('UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = $1 AND writer = $2', [this.id, this.token]);
  }

  private async renew(): Promise<void> {
    let updated: number;
    try {
      [, updated] = (await this.dataSource.query(
        'UPDATE uploads SET writer_until = now() + make_interval(secs => $3), updated_at = now() WHERE id = $1 AND writer = $2',
        [this.id, this.token, LEASE_SECONDS],
      )) as [unknown, number];
    } catch {
      // The database is out of reach: so is every other writer. The next tick tries again.
      return;
    }
    if (updated === 1 || this.released) return;
    clearInterval(this.timer);
    this.lost?.();
  }
}
