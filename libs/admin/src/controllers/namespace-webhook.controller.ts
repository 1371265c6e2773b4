import { applyDecorators } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { NamespaceRole } from '../http/access.decorators.js';
import { ApiController } from '../http/api-controller.decorator.js';
import { webhookRoutes } from './webhook-routes.js';

/** Each route's rule, and its `ns` parameter for the OpenAPI document (the scope decorator reads it). */
const namespaceOwners = () => applyDecorators(NamespaceRole('owner'), ApiParam({ name: 'ns', type: String, description: 'Namespace name' }));

/**
 * A namespace's subscriptions: only its repositories' events, managed by its owners
 * (and administrators). Another scope's subscription answers 404 here.
 */
@ApiController('namespaces/:ns/webhooks', 'webhooks')
export class NamespaceWebhookController extends webhookRoutes(namespaceOwners, 'namespace owners', 'namespace') {}
