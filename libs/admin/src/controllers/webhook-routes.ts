import { Body, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, type Type } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import type { ChangeContext } from '../auth.js';
import { Change } from '../http/change.decorator.js';
import { RouteWebhookScope } from '../http/webhook-scope.decorator.js';
import { WebhookDeliveryService, type WebhookScope, WebhookService } from '../notifications.js';
import { pageQuery } from '../schemas/common.schemas.js';
import { createWebhookBody, deliveryQuery, updateWebhookBody } from '../schemas/webhook.schemas.js';

/**
 * The webhook routes, the same for the global subscriptions and a namespace's: the
 * controllers differ by path and by who may call them (`access`, declared on each
 * route as the access guard requires); the scope comes from the route.
 */
export function webhookRoutes(access: () => MethodDecorator, who: string): Type<object> {
  class WebhookRoutes {
    // Property injection: the controllers extend this class without constructors of their own.
    @Inject(WebhookService) private readonly webhooks: WebhookService;
    @Inject(WebhookDeliveryService) private readonly deliveries: WebhookDeliveryService;

    @Post()
    @access()
    @ApiOperation({ summary: `Subscribe a URL to registry events; the answer holds the signing secret, shown this once (${who})` })
    create(@RouteWebhookScope() scope: WebhookScope, @Body({ schema: createWebhookBody }) body: z.output<typeof createWebhookBody>, @Change() ctx: ChangeContext) {
      return this.webhooks.create(scope, body, ctx);
    }

    @Get()
    @access()
    @ApiOperation({ summary: `List the subscriptions, without secrets or header values (${who})` })
    list(@RouteWebhookScope() scope: WebhookScope, @Query({ schema: pageQuery }) query: z.output<typeof pageQuery>) {
      return this.webhooks.list(scope, query);
    }

    @Get(':id')
    @access()
    @ApiOperation({ summary: `Get a subscription (${who})` })
    get(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string) {
      return this.webhooks.get(scope, id);
    }

    @Patch(':id')
    @access()
    @ApiOperation({ summary: `Change a subscription; headers replace the whole set, a masked value keeps that header's value (${who})` })
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
    @HttpCode(204)
    @ApiOperation({ summary: `Delete a subscription with its delivery history (${who})` })
    async delete(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Change() ctx: ChangeContext): Promise<void> {
      await this.webhooks.delete(scope, id, ctx);
    }

    @Post(':id/rotate-secret')
    @access()
    @HttpCode(200)
    @ApiOperation({ summary: `Replace the signing secret; the answer holds the new one, shown this once (${who})` })
    rotateSecret(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Change() ctx: ChangeContext) {
      return this.webhooks.rotateSecret(scope, id, ctx);
    }

    @Post(':id/ping')
    @access()
    @HttpCode(202)
    @ApiOperation({ summary: `Queue a test event (action "ping"); 409 while notifications are off (no REDIS_URL) (${who})` })
    ping(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Change() ctx: ChangeContext) {
      return this.deliveries.ping(scope, id, ctx);
    }

    @Get(':id/deliveries')
    @access()
    @ApiOperation({ summary: `List a subscription's deliveries, newest first (status: pending, succeeded, failed, dead) (${who})` })
    listDeliveries(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Query({ schema: deliveryQuery }) query: z.output<typeof deliveryQuery>) {
      return this.deliveries.list(scope, id, query);
    }

    @Get(':id/deliveries/:deliveryId')
    @access()
    @ApiOperation({ summary: `Get a delivery with its event and every attempt (${who})` })
    getDelivery(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Param('deliveryId') deliveryId: string) {
      return this.deliveries.get(scope, id, deliveryId);
    }

    @Post(':id/deliveries/:deliveryId/redeliver')
    @access()
    @HttpCode(202)
    @ApiOperation({ summary: `Send a delivery again (any status but pending); 409 while notifications are off (no REDIS_URL) (${who})` })
    redeliver(@RouteWebhookScope() scope: WebhookScope, @Param('id') id: string, @Param('deliveryId') deliveryId: string, @Change() ctx: ChangeContext) {
      return this.deliveries.redeliver(scope, id, deliveryId, ctx);
    }
  }
  return WebhookRoutes;
}
