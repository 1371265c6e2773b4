import { Module } from '@nestjs/common';
import { AccountsModule } from './auth.js';
import { NamespaceWebhookController } from './controllers/namespace-webhook.controller.js';
import { NotificationStatusController } from './controllers/notification-status.controller.js';
import { WebhookController } from './controllers/webhook.controller.js';
import { AdminAccessGuard } from './http/admin-access.guard.js';
import { WebhooksModule } from './notifications.js';

/**
 * The webhook part of the admin API: subscriptions, deliveries, and whether
 * notifications are on. Needs the (global) NotificationsModule, as WebhooksModule does.
 */
@Module({
  imports: [AccountsModule, WebhooksModule],
  controllers: [WebhookController, NamespaceWebhookController, NotificationStatusController],
  providers: [AdminAccessGuard],
})
export class WebhookAdminModule {}
