import { type DynamicModule, Module } from '@nestjs/common';
import { type BerthConfig, ConfigModule } from '@berth/config';
import { DatabaseModule } from '@berth/database';
import { GcModule } from '@berth/gc';
import { NotificationsModule } from '@berth/notifications';
import { StorageModule } from '@berth/storage';

/** The background process, with no HTTP: webhook relay, delivery and history pruning; scheduled GC and upload purge. */
@Module({})
export class WorkerModule {
  static forRoot(config: BerthConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(config),
        StorageModule.forRoot(config.storage),
        NotificationsModule.forRoot(config, { workers: true }),
        GcModule.forRoot(config, { workers: true }),
      ],
    };
  }
}
