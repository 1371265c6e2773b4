import dotenv from 'dotenv';
import { Logger } from '@nestjs/common';
import { BerthConfig, ConfigError } from '@berth/config';
import { createRegistryApp } from './bootstrap.js';
import { closeGracefullyOnSignals } from './graceful-shutdown.js';

dotenv.config({ quiet: true });

try {
  const config = new BerthConfig(process.env);
  const app = await createRegistryApp(process.env);
  await app.listen(config.port, config.host);
  closeGracefullyOnSignals(app, config.shutdownTimeoutSeconds);
  new Logger('Berth').log(
    `registry listening on ${config.tls ? 'https' : 'http'}://${config.host}:${config.port} (database: ${config.database.url ? 'postgres' : `embedded in ${config.database.embeddedDir}`}, storage: ${config.storage.driver})`,
  );
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
