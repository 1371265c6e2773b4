import { Get } from '@nestjs/common';
import { AdminOnly } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { NotificationsStatus } from '../notifications.js';
import { notificationsStatus } from '../schemas/webhook.schemas.js';

@ApiController('system/notifications', 'system')
export class NotificationStatusController {
  constructor(private readonly status: NotificationsStatus) {}

  @Get()
  @AdminOnly()
  @Operation({
    id: 'getNotificationsStatus',
    summary: 'Whether webhook notifications are on (they need REDIS_URL), with queue and delivery counts when they are',
    status: 200,
    answer: notificationsStatus,
  })
  read() {
    return this.status.read();
  }
}
