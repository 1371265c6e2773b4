import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy, Optional } from '@nestjs/common';
import { BerthConfig } from '@berth/config';
import { WebhookDeliveryProcessor } from './delivery/webhook-delivery.processor.js';
import { HistoryPruner } from './history/history.pruner.js';
import { NOTIFICATIONS_OPTIONS, type ResolvedNotificationsOptions } from './notifications-options.js';
import { OutboxCommitListener } from './outbox/outbox-commit-listener.js';
import { PullEventBuffer } from './outbox/pull-event-buffer.js';
import { BullmqDeliveryQueue } from './queue/bullmq-delivery-queue.js';
import { redactRedisUrl } from './queue/redis-client.js';
import { DeliverySweeper } from './relay/delivery.sweeper.js';
import { OutboxRelay } from './relay/outbox.relay.js';

/**
 * Starts the runtime once the application is up and stops it, in order, when the
 * application closes: first what produces work (the worker lets running attempts
 * finish), then the buffered pull events are written, then Redis is let go. The
 * database is still open throughout: TypeORM closes it at application shutdown,
 * after every module is destroyed.
 */
@Injectable()
export class NotificationsLifecycle implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Notifications');

  constructor(
    private readonly config: BerthConfig,
    @Inject(NOTIFICATIONS_OPTIONS) private readonly options: ResolvedNotificationsOptions,
    @Optional() private readonly queue?: BullmqDeliveryQueue,
    @Optional() private readonly commits?: OutboxCommitListener,
    @Optional() private readonly relay?: OutboxRelay,
    @Optional() private readonly sweeper?: DeliverySweeper,
    @Optional() private readonly pulls?: PullEventBuffer,
    @Optional() private readonly processor?: WebhookDeliveryProcessor,
    @Optional() private readonly pruner?: HistoryPruner,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.redisUrl) {
      this.logger.log('webhook notifications are off: set REDIS_URL to enable them');
      return;
    }
    this.commits?.register();
    this.relay?.start();
    this.sweeper?.start();
    this.processor?.start();
    this.pruner?.start();
    this.logger.log(`webhook notifications on (redis ${redactRedisUrl(this.config.redisUrl)}, workers in this process: ${this.options.workers ? 'yes' : 'no'})`);
  }

  async onModuleDestroy(): Promise<void> {
    await this.processor?.stop();
    await Promise.all([this.relay?.stop(), this.sweeper?.stop(), this.pruner?.stop()]);
    this.commits?.unregister();
    await this.pulls?.close();
    await this.queue?.close();
  }
}
