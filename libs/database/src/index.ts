export * from './data-source-options.js';
export * from './database.js';
export * from './database-outage.js';
export * from './database.module.js';
export * from './embedded-database-lock.js';
export * from './embedded-postgres.js';
export * from './entities/index.js';
export * from './manifest-changes.js';
