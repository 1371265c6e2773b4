import 'reflect-metadata';
import dotenv from 'dotenv';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BerthConfig, ConfigError } from '@berth/config';
import { PinoNestLogger, createLogger } from '@berth/observability';
import { WorkerModule } from './worker.module.js';

dotenv.config({ quiet: true });

let config: BerthConfig;
try {
  config = new BerthConfig(process.env);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(2);
}
if (!config.redisUrl) {
  console.error('berth-worker needs REDIS_URL: it takes its work from the Redis queue (without Redis, notifications are off and there is nothing to do)');
  process.exit(2);
}
if (!config.database.url) {
  console.error('berth-worker needs DATABASE_URL: the embedded database belongs to the registry process (which then runs the workers itself)');
  process.exit(2);
}

const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
  // JSON lines like the registry's, marked service "worker".
  logger: new PinoNestLogger(createLogger(config, 'worker')),
});
// SIGTERM/SIGINT close the application: running deliveries finish, then connections
// close, then the process exits normally (so buffered log lines are written; as PID 1 in
// a container, a re-raised signal would be ignored).
app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
new Logger('Berth').log('worker started');
