import { Body, Delete, Get, Inject, Param, Patch, Post, Query, type Type } from '@nestjs/common';
import type { z } from 'zod';
import type { ChangeContext } from '../auth.js';
import { Change } from '../http/change.decorator.js';
import { Operation } from '../http/operation.decorator.js';
import { RouteWebhookScope } from '../http/webhook-scope.decorator.js';
import { WebhookDeliveryService, type WebhookScope, WebhookService } from '../notifications.js';
import { pageQuery } from '../schemas/common.schemas.js';
import {
  createWebhookBody,
  deliveryDetail,
  deliveryPage,
  deliveryQuery,
  deliveryView,
  updateWebhookBody,
  webhookPage,
  webhookView,
  webhookWithSecret,
} from '../schemas/webhook.schemas.js';

/**
 * The webhook routes, the same for the global subscriptions and a namespace's: the
 * controllers differ by path and by who may call them (`access`, declared on each
 * route as the access guard requires); the scope comes from the route.
 */
export function webhookRoutes(access: () => MethodDecorator, who: string, scope: 'global' | 'namespace'): Type<object> {
  /** The two controllers' operations differ in name: `createWebhook`, `createNamespaceWebhook`. */
  const operationId = (verb: string, noun = 'Webhook') => `${verb}${scope === 'namespace' ? 'Namespace' : ''}${noun}`;
  class WebhookRoutes {
    // Property injection: the controllers extend this class without constructors of their own.
    @Inject(WebhookService) private readonly webhooks: WebhookService;
    @Inject(WebhookDeliveryService) private readonly deliveries: WebhookDeliveryService;

    @Post()
    @access()
    @Operation({
      id: operationId('create'),
      summary: `Subscribe a URL to registry events; the answer holds the signing secret, shown this once (${who})`,
      status: 201,
      answer: webhookWithSecret,
      errors: [409],
    })
    create(@RouteWebhookScope() scope: WebhookScope, @Body({ schema: createWebhookBody }) body: z.output<typeof createWebhookBody>, @Change() ctx: ChangeContext) {
      return this.webhooks.create(scope, body, ctx);
    }

    @Get()
    @access()
    @Operation({ id: operationId('list', 'Webhooks'), summary: `List the subscriptions, without secrets or header values (${who})`, status: 200, answer: webhookPage })
    list(@RouteWebhookScope() scope: WebhookScope, @Query({ schema: pageQuery }) query: z.output<typeof pageQuery>) {
      return this.webhooks.list(scope, query);
    }

    @Get(':id')
    @access()
    @Operation({ id: operationId('get'), summary: `Get a subscription (${who})`, status: 200, answer: webhookView })
    get(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string) {
      return this.webhooks.get(scope, id);
    }

    @Patch(':id')
    @access()
    @Operation({
      id: operationId('update'),
      summary: `Change a subscription; headers replace the whole set, a masked value keeps that header's value (${who})`,
      status: 200,
      answer: webhookView,
      errors: [409],
    })
    update(
      @RouteWebhookScope() scope: WebhookScope,
      @Param('id') id: string,
      @Body({ schema: updateWebhookBody }) body: z.output<typeof updateWebhookBody>,
      @Change() ctx: ChangeContext,
    ) {
      return this.webhooks.update(scope, id, body, ctx);
    }

    @Delete(':id')
    @access()
    @Operation({ id: operationId('delete'), summary: `Delete a subscription with its delivery history (${who})`, status: 204 })
    async delete(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Change() ctx: ChangeContext): Promise<void> {
      await this.webhooks.delete(scope, id, ctx);
    }

    @Post(':id/rotate-secret')
    @access()
    @Operation({
      id: operationId('rotate', 'WebhookSecret'),
      summary: `Replace the signing secret; the answer holds the new one, shown this once (${who})`,
      status: 200,
      answer: webhookWithSecret,
    })
    rotateSecret(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Change() ctx: ChangeContext) {
      return this.webhooks.rotateSecret(scope, id, ctx);
    }

    @Post(':id/ping')
    @access()
    @Operation({
      id: operationId('ping'),
      summary: `Queue a test event (action "ping"); 409 while notifications are off (no REDIS_URL) (${who})`,
      status: 202,
      answer: deliveryView,
      errors: [409],
    })
    ping(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Change() ctx: ChangeContext) {
      return this.deliveries.ping(scope, id, ctx);
    }

    @Get(':id/deliveries')
    @access()
    @Operation({
      id: operationId('list', 'WebhookDeliveries'),
      summary: `List a subscription's deliveries, newest first (status: pending, succeeded, failed, dead) (${who})`,
      status: 200,
      answer: deliveryPage,
    })
    listDeliveries(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Query({ schema: deliveryQuery }) query: z.output<typeof deliveryQuery>) {
      return this.deliveries.list(scope, id, query);
    }

    @Get(':id/deliveries/:deliveryId')
    @access()
    @Operation({ id: operationId('get', 'WebhookDelivery'), summary: `Get a delivery with its event and every attempt (${who})`, status: 200, answer: deliveryDetail })
    getDelivery(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Param('deliveryId') deliveryId: string) {
      return this.deliveries.get(scope, id, deliveryId);
    }

    @Post(':id/deliveries/:deliveryId/redeliver')
    @access()
    @Operation({
      id: operationId('redeliver', 'WebhookDelivery'),
      summary: `Send a delivery again (any status but pending); 409 while notifications are off (no REDIS_URL) (${who})`,
      status: 202,
      answer: deliveryView,
      errors: [409],
    })
    redeliver(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Param('deliveryId') deliveryId: string, @Change() ctx: ChangeContext) {
      return this.deliveries.redeliver(scope, id, deliveryId, ctx);
    }
  }
  return WebhookRoutes;
}
