import { type DynamicModule, Module } from '@nestjs/common';
import { type BerthConfig, ConfigModule } from '@berth/config';
import { DatabaseModule } from '@berth/database';
import { GcModule } from '@berth/gc';
import { StorageModule } from '@berth/storage';

/** What `gc` and `purge-uploads` need: the database, storage and the GC services, no schedule. */
@Module({})
export class MaintenanceModule {
  static forRoot(config: BerthConfig): DynamicModule {
    return {
      module: MaintenanceModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), StorageModule.forRoot(config.storage), GcModule.forRoot(config, { workers: false })],
    };
  }
}
