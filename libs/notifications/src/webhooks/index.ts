export * from './ping-event.js';
export * from './repository-pattern.js';
export * from './webhook-delivery.service.js';
export * from './webhook-headers.js';
export * from './webhook-scope.js';
export * from './webhook-settings.js';
export * from './webhook.service.js';
export * from './webhooks.module.js';
