import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '@berth/migrations';
import { ENTITIES } from './entities/index.js';

export interface ConnectionSettings {
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  database?: string;
  poolSize: number;
}

/** One definition of the DataSource, shared by the app and the migration command. */
export function dataSourceOptions(connection: ConnectionSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: connection.url,
    host: connection.host,
    port: connection.port,
    username: connection.username,
    database: connection.database,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    logging: ['error'],
    extra: { max: connection.poolSize },
  };
}
