import { AdminOnly } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { webhookRoutes } from './webhook-routes.js';

/** Global subscriptions: every repository's events, managed by administrators. */
@ApiController('webhooks', 'webhooks')
export class WebhookController extends webhookRoutes(AdminOnly, 'administrators', 'global') {}
