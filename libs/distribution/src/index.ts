export * from './distribution.module.js';
export * from './http/registry-exception.filter.js';
export * from './http/v2-path.js';
