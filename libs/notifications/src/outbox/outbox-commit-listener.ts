import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, type EntitySubscriberInterface, type TransactionCommitEvent, type TransactionRollbackEvent } from 'typeorm';
import { OutboxRelay } from '../relay/outbox.relay.js';

/** Marks a query runner whose transaction wrote outbox rows. */
const WROTE_EVENTS = 'berth.notifications.wroteEvents';

/**
 * Wakes the relay when a transaction that wrote events commits, so that an event is
 * relayed within milliseconds rather than at the next poll. Waking at `record` time
 * would be too early: the rows are invisible to the relay until the commit. A
 * TypeORM subscriber, registered on the running DataSource, is told of every commit;
 * it acts only on those of marked transactions.
 */
@Injectable()
export class OutboxCommitListener implements EntitySubscriberInterface {
  constructor(
    private readonly dataSource: DataSource,
    private readonly relay: OutboxRelay,
  ) {}

  register(): void {
    if (!this.dataSource.subscribers.includes(this)) this.dataSource.subscribers.push(this);
  }

  unregister(): void {
    const index = this.dataSource.subscribers.indexOf(this);
    if (index >= 0) this.dataSource.subscribers.splice(index, 1);
  }

  /** Events were written through `manager`: wake the relay once they are visible. */
  recorded(manager: EntityManager): void {
    const runner = manager.queryRunner;
    if (runner?.isTransactionActive) runner.data[WROTE_EVENTS] = true;
    else this.relay.wake();
  }

  afterTransactionCommit({ queryRunner }: TransactionCommitEvent): void {
    // Committing a savepoint leaves the transaction open: wait for the real commit.
    if (queryRunner.isTransactionActive || !queryRunner.data[WROTE_EVENTS]) return;
    delete queryRunner.data[WROTE_EVENTS];
    this.relay.wake();
  }

  afterTransactionRollback({ queryRunner }: TransactionRollbackEvent): void {
    if (!queryRunner.isTransactionActive) delete queryRunner.data[WROTE_EVENTS];
  }
}
