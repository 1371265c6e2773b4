import { type DynamicModule, Module } from '@nestjs/common';
import { type BerthConfig, ConfigModule } from '@berth/config';
import { DatabaseModule } from '@berth/database';
import { NotificationsModule } from '@berth/notifications';

/** The background process: webhook relay, delivery and history pruning, with no HTTP. */
@Module({})
export class WorkerModule {
  static forRoot(config: BerthConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), NotificationsModule.forRoot(config, { workers: true })],
    };
  }
}
