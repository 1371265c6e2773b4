import { Module } from '@nestjs/common';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookService } from './webhook.service.js';

/**
 * Webhook subscriptions and their delivery history. Needs the (global)
 * NotificationsModule for SecretBox, TargetPolicy and DeliveryQueue, the AuthModule
 * for AuditService, and the DataSource.
 */
@Module({
  providers: [WebhookService, WebhookDeliveryService],
  exports: [WebhookService, WebhookDeliveryService],
})
export class WebhooksModule {}
