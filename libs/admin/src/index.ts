export * from './admin.module.js';
export * from './http/api-body-error.handler.js';
export * from './http/api-exception.filter.js';
export * from './openapi.js';
