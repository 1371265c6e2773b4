export * from './distribution.module.js';
export * from './http/event-context.js';
export * from './http/read-only.guard.js';
export * from './http/registry-exception.filter.js';
export * from './services/blob-lock.js';
export * from './services/registry-events.js';
export * from './services/storage-usage.service.js';
export * from './http/v2-path.js';
