export * from './berth-config.js';
export * from './config.module.js';
