import { type DynamicModule, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { AdminModule } from '@berth/admin';
import { AuthModule } from '@berth/auth';
import { type BerthConfig, ConfigModule } from '@berth/config';
import { DatabaseModule } from '@berth/database';
import { DistributionModule } from '@berth/distribution';
import { GcModule } from '@berth/gc';
import { NotificationsModule } from '@berth/notifications';
import { ObservabilityModule } from '@berth/observability';
import { ProxyModule } from '@berth/proxy';
import { StorageModule } from '@berth/storage';

@Module({})
export class AppModule {
  /** `logger`: the one the application logs through (see createRegistryApp). */
  static forRoot(config: BerthConfig, logger?: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), StorageModule.forRoot(config.storage), NotificationsModule.forRoot(config), GcModule.forRoot(config), AuthModule, DistributionModule, ProxyModule, AdminModule, ObservabilityModule.forRoot(config, logger)],
    };
  }
}
