import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { BerthConfig } from '@berth/config';
import { dataSourceOptions } from './data-source-options.js';
import { openDatabase } from './database.js';

/** The migrated DataSource (real or embedded Postgres), provided through @nestjs/typeorm. */
@Module({})
export class DatabaseModule {
  static forRoot(config: BerthConfig): DynamicModule {
    return {
      module: DatabaseModule,
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
