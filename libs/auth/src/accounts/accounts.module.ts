import { Module } from '@nestjs/common';
import { AuditService } from '../audit.service.js';
import { PasswordHasher } from '../password-hasher.js';
import { MembershipService } from './membership.service.js';
import { NamespaceService } from './namespace.service.js';
import { RobotService } from './robot.service.js';
import { UserService } from './user.service.js';
import { UserStore } from './user.store.js';
import { NamespaceStore } from './namespace.store.js';
import { RobotStore } from './robot.store.js';
import { CredentialGenerationStore } from '../credential-generation.store.js';

/**
 * Users, namespaces, memberships and robot accounts. Self-contained: it provides the
 * hasher, the audit writer and the stores it needs (all stateless, so a second instance
 * next to AuthModule's costs nothing) and imports nothing, so AuthModule may import it without
 * a cycle. The DataSource comes from TypeOrmModule.
 */
@Module({
  providers: [UserService, NamespaceService, MembershipService, RobotService, PasswordHasher, AuditService, UserStore, RobotStore, NamespaceStore, CredentialGenerationStore],
  exports: [UserService, NamespaceService, MembershipService, RobotService, PasswordHasher, AuditService, UserStore, NamespaceStore, CredentialGenerationStore],
})
export class AccountsModule {}
