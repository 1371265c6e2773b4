import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';
import { GLOBAL_WEBHOOKS, type WebhookScope, namespaceWebhooks } from '../notifications.js';

/** The subscriptions a webhook route works on: the `:ns` namespace's, or the global ones on routes without it. */
export const RouteWebhookScope = createParamDecorator((_data: unknown, ctx: ExecutionContext): WebhookScope => {
  const ns = ctx.switchToHttp().getRequest<Request>().params.ns;
  return typeof ns === 'string' ? namespaceWebhooks(ns) : GLOBAL_WEBHOOKS;
});
