import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type AuditRow, AuditStore } from './audit.store.js';
import { type Identity, actorName } from './identity.js';

export interface AuditEvent {
  actor: Identity | string;
  /** e.g. `user.create`, `namespace.member.set`, `robot.rotate`. */
  action: string;
  /** e.g. `user:alice`, `namespace:team`, `robot:team+ci`. */
  target: string;
  /** Never a secret. */
  detail?: Record<string, unknown>;
  clientAddr?: string;
  /** When it happened, for an entry written later than that; default: now. */
  at?: Date;
}

/** Records every change made through the admin API, /v2 deletes, failed logins and start-up changes. */
@Injectable()
export class AuditService {
  private readonly store = new AuditStore();

  constructor(private readonly dataSource: DataSource) {}

  async record(event: AuditEvent, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await this.store.insert(manager, [rowOf(event)]);
  }

  /** Several entries in one statement. */
  async recordAll(events: AuditEvent[], manager: EntityManager = this.dataSource.manager): Promise<void> {
    await this.store.insert(manager, events.map(rowOf));
  }
}

function rowOf(event: AuditEvent): AuditRow {
  return {
    actor: typeof event.actor === 'string' ? event.actor : actorName(event.actor),
    action: event.action,
    target: event.target,
    detail: event.detail ?? null,
    clientAddr: event.clientAddr ?? null,
    at: event.at,
  };
}
