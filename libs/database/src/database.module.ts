import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { BerthConfig } from '@berth/config';
import { dataSourceOptions } from './data-source-options.js';
import { openDatabase } from './database.js';
import { ManifestChanges } from './manifest-changes.js';

/** The migrated DataSource (real or embedded Postgres), provided through @nestjs/typeorm, and ManifestChanges. */
@Module({})
export class DatabaseModule {
  static forRoot(config: BerthConfig): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [ManifestChanges],
      exports: [ManifestChanges],
      imports: [
        TypeOrmModule.forRootAsync({
          // openDatabase builds the real options (it may first start the embedded server).
          useFactory: () => ({ ...dataSourceOptions({ poolSize: 1 }), retryAttempts: 0 }),
          dataSourceFactory: () => openDatabase(config),
        }),
      ],
    };
  }
}
