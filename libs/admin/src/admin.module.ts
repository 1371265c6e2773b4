import { Module } from '@nestjs/common';
import { DistributionModule } from '@berth/distribution';
import { ProxyModule } from '@berth/proxy';
import { AccountsModule } from './auth.js';
import { AuditController } from './controllers/audit.controller.js';
import { GcController } from './controllers/gc.controller.js';
import { MemberController } from './controllers/member.controller.js';
import { NamespaceController } from './controllers/namespace.controller.js';
import { RepositoryController } from './controllers/repository.controller.js';
import { RobotController } from './controllers/robot.controller.js';
import { UserController } from './controllers/user.controller.js';
import { AdminAccessGuard } from './http/admin-access.guard.js';
import { AuditLogService } from './services/audit-log.service.js';
import { GcAdminService } from './services/gc-admin.service.js';
import { NamespaceUsageService } from './services/namespace-usage.service.js';
import { RepositoryAdminService } from './services/repository-admin.service.js';
import { WebhookAdminModule } from './webhook-admin.module.js';

/**
 * The JSON admin API under /api/v1: accounts, namespaces, robots, repositories, audit log,
 * webhooks, garbage collection. Needs the (global) AuthModule: its guard authenticates
 * callers, its AccessService decides; for the webhooks, the (global) NotificationsModule;
 * for garbage collection, the (global) GcModule.
 */
@Module({
  imports: [AccountsModule, DistributionModule, ProxyModule, WebhookAdminModule],
  controllers: [UserController, NamespaceController, MemberController, RobotController, RepositoryController, AuditController, GcController],
  providers: [AdminAccessGuard, RepositoryAdminService, AuditLogService, NamespaceUsageService, GcAdminService],
})
export class AdminModule {}
