import { Module } from '@nestjs/common';
import { AuditService } from '../audit.service.js';
import { PasswordHasher } from '../password-hasher.js';
import { MembershipService } from './membership.service.js';
import { NamespaceService } from './namespace.service.js';
import { RobotService } from './robot.service.js';
import { UserService } from './user.service.js';

/**
 * Users, namespaces, memberships and robot accounts. Self-contained: it provides the
 * hasher and the audit writer it needs (both stateless, so a second instance next to
 * AuthModule's costs nothing) and imports nothing, so AuthModule may import it without
 * a cycle. The DataSource comes from TypeOrmModule.
 */
@Module({
  providers: [UserService, NamespaceService, MembershipService, RobotService, PasswordHasher, AuditService],
  exports: [UserService, NamespaceService, MembershipService, RobotService, PasswordHasher, AuditService],
})
export class AccountsModule {}
