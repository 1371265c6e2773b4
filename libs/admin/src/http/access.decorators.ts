import { SetMetadata } from '@nestjs/common';
import type { RegistryAction, Role } from '@berth/database';

export const ACCESS_REQUIREMENT = 'berth:admin-access';

/**
 * Who may call an admin route. Every admin route declares one: the access guard
 * refuses routes that do not.
 */
export type AccessRequirement =
  | { kind: 'user' }
  | { kind: 'admin' }
  /** The `:username` of the route, or an administrator. */
  | { kind: 'self-or-admin' }
  /** A role in the `:ns` namespace, or `visible`: any role, or none in a public namespace. */
  | { kind: 'namespace'; minimum: Role | 'visible' }
  /** An action on the repository in the `*name` parameter. */
  | { kind: 'repository'; action: RegistryAction };

const requires = (requirement: AccessRequirement) => SetMetadata(ACCESS_REQUIREMENT, requirement);

/** Any signed-in user. */
export const AnyUser = () => requires({ kind: 'user' });
export const AdminOnly = () => requires({ kind: 'admin' });
export const SelfOrAdmin = () => requires({ kind: 'self-or-admin' });
export const NamespaceRole = (minimum: Role) => requires({ kind: 'namespace', minimum });
export const NamespaceVisible = () => requires({ kind: 'namespace', minimum: 'visible' });
export const RepositoryAction = (action: RegistryAction) => requires({ kind: 'repository', action });
