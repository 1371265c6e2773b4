import { type DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from '@berth/admin';
import { AuthModule } from '@berth/auth';
import { type BerthConfig, ConfigModule } from '@berth/config';
import { DatabaseModule } from '@berth/database';
import { DistributionModule } from '@berth/distribution';
import { NotificationsModule } from '@berth/notifications';
import { StorageModule } from '@berth/storage';

@Module({})
export class AppModule {
  static forRoot(config: BerthConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), StorageModule.forRoot(config.storage), NotificationsModule.forRoot(config), AuthModule, DistributionModule, AdminModule],
    };
  }
}
