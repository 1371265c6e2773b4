import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
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
}

/** Records every change made through the admin API or at start-up. */
@Injectable()
export class AuditService {
  constructor(private readonly dataSource: DataSource) {}

  async record(event: AuditEvent, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.query(
      'INSERT INTO audit_log (actor, action, target, detail, client_addr) VALUES ($1, $2, $3, $4, $5)',
      [
        typeof event.actor === 'string' ? event.actor : actorName(event.actor),
        event.action,
        event.target,
        event.detail ? JSON.stringify(event.detail) : null,
        event.clientAddr ?? null,
      ],
    );
  }
}
