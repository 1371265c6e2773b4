import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { EventOutbox } from '../event-outbox.js';
import type { EventContext, EventDraft } from '../registry-event.js';
import { EventFactory } from './event-factory.js';
import { OutboxCommitListener } from './outbox-commit-listener.js';
import { PullEventBuffer } from './pull-event-buffer.js';

/** The outbox in Postgres (table event_outbox): see EventOutbox. */
@Injectable()
export class PostgresEventOutbox extends EventOutbox {
  readonly enabled = true;

  constructor(
    private readonly events: EventFactory,
    private readonly commits: OutboxCommitListener,
    private readonly pulls: PullEventBuffer,
  ) {
    super();
  }

  /** Through the caller's manager: the rows commit, or roll back, with the change they report. */
  async record(manager: EntityManager, context: EventContext, drafts: EventDraft[]): Promise<void> {
    if (!drafts.length) return;
    const events = drafts.map((draft) => this.events.create(context, draft));
    await manager.query(`INSERT INTO event_outbox (event_id, payload) SELECT * FROM unnest($1::uuid[], $2::jsonb[])`, [
      events.map((e) => e.id),
      events.map((e) => JSON.stringify(e)),
    ]);
    this.commits.recorded(manager);
  }

  recordPull(context: EventContext, draft: EventDraft): void {
    this.pulls.push(this.events.create(context, draft));
  }
}
