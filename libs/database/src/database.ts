import { DataSource, MigrationExecutor } from 'typeorm';
import type { BerthConfig } from '@berth/config';
import { dataSourceOptions } from './data-source-options.js';
import { EmbeddedPostgres } from './embedded-postgres.js';

/**
 * Each embedded server connection is a process of ~10 MiB (PSS), and on the one machine
 * the registry shares with its database more of them add no throughput.
 */
const EMBEDDED_POOL_SIZE = 4;

/** A DataSource that also stops the embedded server it runs on. */
class EmbeddedDataSource extends DataSource {
  embedded?: EmbeddedPostgres;

  override async destroy(): Promise<void> {
    await super.destroy();
    await this.embedded?.stop();
  }
}

/**
 * Opens the configured database (Postgres at DATABASE_URL, else the embedded one)
 * and brings its schema up to date.
 */
export async function openDatabase(config: BerthConfig): Promise<DataSource> {
  if (config.database.url) {
    const dataSource = new DataSource(dataSourceOptions({ url: config.database.url, poolSize: config.database.poolSize }));
    return initialize(dataSource);
  }
  const embedded = await EmbeddedPostgres.start(config.database.embeddedDir);
  const dataSource = new EmbeddedDataSource(dataSourceOptions({ ...embedded.connection, poolSize: Math.min(config.database.poolSize, EMBEDDED_POOL_SIZE) }));
  dataSource.embedded = embedded;
  return initialize(dataSource).catch(async (err) => {
    await embedded.stop();
    throw err;
  });
}

async function initialize(dataSource: DataSource): Promise<DataSource> {
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
  } catch (err) {
    await dataSource.destroy();
    throw err;
  }
  return dataSource;
}

/** Serialised across processes by an advisory lock, so replicas starting together migrate once. */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock(7310012)');
    // The executor runs on the locked connection, which holds the advisory lock.
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    const ran = await executor.executePendingMigrations();
    return ran.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(7310012)').catch(() => undefined);
    await runner.release();
  }
}
