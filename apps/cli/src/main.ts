import 'reflect-metadata';
import dotenv from 'dotenv';
import { HttpException } from '@nestjs/common';
import { BerthConfig, ConfigError } from '@berth/config';
import { EmbeddedDatabaseInUseError, openDatabase } from '@berth/database';
import { GcAlreadyRunningError, GcReadOnlyError, VerifyAlreadyRunningError, VerifyReadOnlyError } from '@berth/gc';
import { MAINTENANCE_USAGE, gcCommand, purgeUploadsCommand } from './maintenance.command.js';
import { UsageError } from './usage-error.js';
import { USER_USAGE, userCommand } from './user.command.js';
import { VERIFY_USAGE, verifyCommand } from './verify.command.js';

dotenv.config({ quiet: true });

const USAGE = `usage: berth-cli <command>

commands:
  migrate             apply pending database migrations (the registry also does this at start-up)
${USER_USAGE}

${VERIFY_USAGE}

${MAINTENANCE_USAGE}`;

async function migrate(config: BerthConfig): Promise<void> {
  // openDatabase applies pending migrations before returning.
  const dataSource = await openDatabase(config);
  const applied = await dataSource.query('SELECT name FROM migrations ORDER BY id');
  console.log(`database schema is current (${applied.length} migrations applied)`);
  await dataSource.destroy();
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'migrate') await migrate(new BerthConfig(process.env));
  else if (command === 'user') await userCommand(new BerthConfig(process.env), args);
  else if (command === 'gc') await gcCommand(new BerthConfig(process.env), args);
  else if (command === 'purge-uploads') await purgeUploadsCommand(new BerthConfig(process.env), args);
  else if (command === 'verify') await verifyCommand(new BerthConfig(process.env), args);
  else if (command) throw new UsageError(`unknown command: ${command}`);
  else console.log(USAGE);
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    // Refusals from the services (a taken name, a short password) are for the operator to read.
    const refusal =
      err instanceof ConfigError ||
      err instanceof EmbeddedDatabaseInUseError ||
      err instanceof HttpException ||
      err instanceof GcAlreadyRunningError ||
      err instanceof GcReadOnlyError ||
      err instanceof VerifyAlreadyRunningError ||
      err instanceof VerifyReadOnlyError;
    console.error(refusal ? err.message : err);
    process.exitCode = 1;
  }
}
