import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import type { BerthConfig } from '@berth/config';
import { DeliveryQueue } from './delivery-queue.js';
import { WebhookDeliveryProcessor, webhookDeliveryProcessor } from './delivery/webhook-delivery.processor.js';
import { WebhookSender } from './delivery/webhook-sender.js';
import { EventOutbox } from './event-outbox.js';
import { HistoryPruner } from './history/history.pruner.js';
import { NotificationsLifecycle } from './notifications-lifecycle.js';
import { NOTIFICATIONS_OPTIONS, type NotificationsOptions, resolveNotificationsOptions } from './notifications-options.js';
import { NotificationsStatus } from './notifications-status.js';
import { DisabledEventOutbox } from './outbox/disabled-event-outbox.js';
import { EventFactory } from './outbox/event-factory.js';
import { OutboxCommitListener } from './outbox/outbox-commit-listener.js';
import { PostgresEventOutbox } from './outbox/postgres-event-outbox.js';
import { PullEventBuffer } from './outbox/pull-event-buffer.js';
import { BullmqDeliveryQueue, DELIVERY_QUEUE_ERRORS, deliveryQueueConnection } from './queue/bullmq-delivery-queue.js';
import { DELIVERY_QUEUE_NAME } from './queue/delivery-job.js';
import { DisabledDeliveryQueue } from './queue/disabled-delivery-queue.js';
import { DeliverySweeper } from './relay/delivery.sweeper.js';
import { OutboxRelay } from './relay/outbox.relay.js';
import { PendingDeliveries } from './relay/pending-deliveries.js';
import { SecretBox } from './secret-box.js';
import { TargetPolicy } from './target-policy.js';

/**
 * Registry events and webhook delivery. Global: the distribution services inject
 * EventOutbox, the admin API DeliveryQueue, SecretBox, TargetPolicy and
 * NotificationsStatus. Without REDIS_URL only the no-op outbox and queue (and the
 * SecretBox and TargetPolicy that subscriptions need) exist. With it: the outbox,
 * the queue producer, the relay and the sweeper, and, where workers run (RUN_WORKERS,
 * or `options.workers`), the delivery processor and history pruning. BullModule
 * (@nestjs/bullmq) is imported only then too: without REDIS_URL there is no queue,
 * no worker and no Redis connection at all.
 */
@Module({})
export class NotificationsModule {
  static forRoot(config: BerthConfig, options: NotificationsOptions = {}): DynamicModule {
    const resolved = resolveNotificationsOptions(config, options);
    const imports: DynamicModule[] = [];
    const providers: Provider[] = [
      { provide: NOTIFICATIONS_OPTIONS, useValue: resolved },
      { provide: SecretBox, useFactory: () => SecretBox.load(config) },
      {
        provide: TargetPolicy,
        useFactory: () => new TargetPolicy(config.webhooks.allowPrivateTargets, undefined, { allowPrivateNetworks: config.webhooks.allowPrivateNetworks }),
      },
      NotificationsStatus,
      NotificationsLifecycle,
    ];
    if (!config.redisUrl) {
      providers.push({ provide: EventOutbox, useClass: DisabledEventOutbox }, { provide: DeliveryQueue, useClass: DisabledDeliveryQueue });
    } else {
      imports.push(
        BullModule.forRootAsync({ useFactory: () => deliveryQueueConnection(config) }),
        BullModule.registerQueue({ name: DELIVERY_QUEUE_NAME }),
      );
      providers.push(
        DELIVERY_QUEUE_ERRORS,
        BullmqDeliveryQueue,
        { provide: DeliveryQueue, useExisting: BullmqDeliveryQueue },
        EventFactory,
        PendingDeliveries,
        OutboxRelay,
        OutboxCommitListener,
        PullEventBuffer,
        PostgresEventOutbox,
        { provide: EventOutbox, useExisting: PostgresEventOutbox },
        DeliverySweeper,
      );
      if (resolved.workers) {
        providers.push(
          WebhookSender,
          { provide: WebhookDeliveryProcessor, useClass: webhookDeliveryProcessor(config.redisUrl, resolved) },
          HistoryPruner,
        );
      }
    }
    return {
      module: NotificationsModule,
      global: true,
      imports,
      providers,
      exports: [EventOutbox, DeliveryQueue, SecretBox, TargetPolicy, NotificationsStatus],
    };
  }
}
