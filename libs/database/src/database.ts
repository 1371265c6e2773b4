import { DataSource, MigrationExecutor } from 'typeorm';
import type { BerthConfig } from '@berth/config';
import { dataSourceOptions } from './data-source-options.js';
import { EmbeddedPostgres } from './embedded-postgres.js';

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
  const dataSource = new EmbeddedDataSource(dataSourceOptions({ ...embedded.connection, poolSize: 1 }));
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
    // The executor runs on the locked connection: the embedded database has only one.
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    const ran = await executor.executePendingMigrations();
    return ran.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(7310012)').catch(() => undefined);
    await runner.release();
  }
}
