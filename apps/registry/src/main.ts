import { GracefulShutdown } from './graceful-shutdown.js';

// Before anything else is loaded (Nest, TypeORM and the modules take a while): see GracefulShutdown.
const shutdown = new GracefulShutdown();

const { default: dotenv } = await import('dotenv');
const { Logger } = await import('@nestjs/common');
const { BerthConfig, ConfigError } = await import('@berth/config');
const { createRegistryApp } = await import('./bootstrap.js');

dotenv.config({ quiet: true });

try {
  const config = new BerthConfig(process.env);
  const app = await createRegistryApp(process.env);
  await app.listen(config.port, config.host);
  const logger = new Logger('Berth');
  shutdown.attach(app, config.shutdownTimeoutSeconds, logger);
  logger.log(
    `registry listening on ${config.tls ? 'https' : 'http'}://${config.host}:${config.port} (database: ${config.database.url ? 'postgres' : `embedded in ${config.database.embeddedDir}`}, storage: ${config.storage.driver})`,
  );
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
