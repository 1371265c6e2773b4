import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type Page, type PageRequest, pageOffset } from '../auth.js';

export interface AuditEntryView {
  id: string;
  at: Date;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown> | null;
  clientAddr: string | null;
}

export interface AuditQuery extends PageRequest {
  actor?: string;
  /** An exact action, or a family: `robot` matches `robot.create`, `robot.rotate`… */
  action?: string;
}

/** Reads the audit log, newest first. */
@Injectable()
export class AuditLogService {
  constructor(private readonly dataSource: DataSource) {}

  async list(query: AuditQuery): Promise<Page<AuditEntryView>> {
    const where = `WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2 OR starts_with(action, $2 || '.'))`;
    const params = [query.actor ?? null, query.action ?? null];
    const [{ total }]: { total: string }[] = await this.dataSource.query(`SELECT count(*) AS total FROM audit_log ${where}`, params);
    const items: AuditEntryView[] = await this.dataSource.query(
      `SELECT id, at, actor, action, target, detail, client_addr AS "clientAddr" FROM audit_log ${where}
        ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4`,
      [...params, query.perPage, pageOffset(query)],
    );
    return { items, page: query.page, perPage: query.perPage, total: Number(total) };
  }
}
