import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { RegistryAction, Role } from '@berth/database';
import { AccessService, NamespaceService, type Principal, type UserIdentity, namespaceNotFound, roleAtLeast } from '../auth.js';
import { ACCESS_REQUIREMENT, type AccessRequirement } from './access.decorators.js';
import { repositoryParam } from './repository-param.js';

/** The least role granting each action (ROLE_ACTIONS read the other way). */
const ROLE_FOR: Record<RegistryAction, Role> = { pull: 'reader', push: 'developer', delete: 'maintainer' };

/**
 * Checks the requirement an admin route declares, after the global guard has
 * authenticated the caller. What the caller may not even see answers 404, what they
 * see but may not do answers 403.
 */
@Injectable()
export class AdminAccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly access: AccessService,
    private readonly namespaces: NamespaceService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & { user?: Principal }>();
    const identity = req.user?.identity;
    if (!identity || identity.kind === 'anonymous') throw new UnauthorizedException('sign in to use the API');
    if (identity.kind !== 'user') throw new ForbiddenException('the API is for user accounts, not robots');
    const requirement = this.reflector.get<AccessRequirement | undefined>(ACCESS_REQUIREMENT, context.getHandler());
    if (!requirement) throw new ForbiddenException('this route declares no access rule');
    switch (requirement.kind) {
      case 'user':
        return true;
      case 'admin':
        if (!identity.isAdmin) throw new ForbiddenException('this needs an administrator');
        return true;
      case 'self-or-admin':
        if (!identity.isAdmin && identity.username !== req.params.username) {
          throw new ForbiddenException('this needs an administrator or the user themselves');
        }
        return true;
      case 'namespace':
        await this.checkNamespace(identity, String(req.params.ns), requirement.minimum);
        return true;
      case 'repository':
        await this.checkRepository(identity, repositoryParam(req.params.name), requirement.action);
        return true;
    }
  }

  private async checkNamespace(identity: UserIdentity, name: string, minimum: Role | 'visible'): Promise<void> {
    const namespace = await this.namespaces.find(name);
    const role = namespace && (await this.access.roleIn(identity, name));
    if (!namespace || (!role && namespace.visibility !== 'public')) throw namespaceNotFound(name);
    if (minimum !== 'visible' && !roleAtLeast(role, minimum)) {
      throw new ForbiddenException(`this needs the ${minimum} role in ${name}`);
    }
  }

  private async checkRepository(identity: UserIdentity, name: string, action: RegistryAction): Promise<void> {
    const allowed = await this.access.allowedActions(identity, name);
    if (!allowed.has('pull')) throw new NotFoundException(`repository ${name} not found`);
    if (!allowed.has(action)) throw new ForbiddenException(`${action} in ${name} needs the ${ROLE_FOR[action]} role`);
  }
}
