import { type ExecutionContext, SetMetadata, createParamDecorator } from '@nestjs/common';
import type { RegistryAction } from '@berth/database';
import { ANONYMOUS, type Principal } from './identity.js';

export const PUBLIC_ROUTE = 'berth:public';
export const REGISTRY_ACCESS = 'berth:registry-access';

/** Opens a route to everyone: the global guard lets it through without credentials. */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/**
 * What a /v2 route needs: an action on the repository in the `name` parameter, or
 * `catalog` (any authenticated caller; the listing filters itself), or `base`
 * (`GET /v2/`: any valid credentials, anonymous token included).
 */
export type RegistryRequirement = { action: RegistryAction } | 'catalog' | 'base';
export const RegistryAccess = (requirement: RegistryRequirement) => SetMetadata(REGISTRY_ACCESS, requirement);

/** The authenticated caller (set by the global guard). */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal =>
    (ctx.switchToHttp().getRequest<{ user?: Principal }>().user ?? { identity: ANONYMOUS }) as Principal,
);
