export * from './berth-config.js';
export * from './config.module.js';
export * from './key-file.js';
