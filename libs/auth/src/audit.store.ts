import type { EntityManager } from 'typeorm';

export interface AuditRow {
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown> | null;
  clientAddr: string | null;
  /** When it happened; absent → the time of the insert. */
  at?: Date;
}

/** The audit_log table. Stateless: every call takes the manager of the caller's transaction. */
export class AuditStore {
  /** One statement for any number of rows (failed logins are written in batches). */
  async insert(manager: EntityManager, rows: AuditRow[]): Promise<void> {
    if (!rows.length) return;
    const params: unknown[] = [];
    const values = rows.map((row) => {
      params.push(row.at ?? null, row.actor, row.action, row.target, row.detail ? JSON.stringify(row.detail) : null, row.clientAddr);
      const n = params.length;
      return `(coalesce($${n - 5}::timestamptz, now()), $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}::jsonb, $${n})`;
    });
    await manager.query(`INSERT INTO audit_log (at, actor, action, target, detail, client_addr) VALUES ${values.join(', ')}`, params);
  }
}
