import { Get } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { AdminOnly } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { NotificationsStatus } from '../notifications.js';

@ApiController('system/notifications', 'system')
export class NotificationStatusController {
  constructor(private readonly status: NotificationsStatus) {}

  @Get()
  @AdminOnly()
  @ApiOperation({ summary: 'Whether webhook notifications are on (they need REDIS_URL), with queue and delivery counts when they are' })
  read() {
    return this.status.read();
  }
}
