import 'reflect-metadata';
import dotenv from 'dotenv';
import { BerthConfig, ConfigError } from '@berth/config';
import { openDatabase } from '@berth/database';

dotenv.config({ quiet: true });

const USAGE = `usage: berth-cli <command>

commands:
  migrate   apply pending database migrations (the registry also does this at start-up)`;

async function migrate(config: BerthConfig): Promise<void> {
  // openDatabase applies pending migrations before returning.
  const dataSource = await openDatabase(config);
  const applied = await dataSource.query('SELECT name FROM migrations ORDER BY id');
  console.log(`database schema is current (${applied.length} migrations applied)`);
  await dataSource.destroy();
}

const [command] = process.argv.slice(2);
try {
  if (command === 'migrate') await migrate(new BerthConfig(process.env));
  else {
    console.error(USAGE);
    process.exitCode = command ? 2 : 0;
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exitCode = 1;
}
