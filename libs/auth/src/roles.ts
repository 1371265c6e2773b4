import type { RegistryAction, Role } from '@berth/database';

export const ROLES: readonly Role[] = ['reader', 'developer', 'maintainer', 'owner'];
export const REGISTRY_ACTIONS: readonly RegistryAction[] = ['pull', 'push', 'delete'];

/** Registry actions each namespace role grants; `owner` also manages members, robots and settings. */
export const ROLE_ACTIONS: Record<Role, readonly RegistryAction[]> = {
  reader: ['pull'],
  developer: ['pull', 'push'],
  maintainer: ['pull', 'push', 'delete'],
  owner: ['pull', 'push', 'delete'],
};

export function roleAtLeast(role: Role | undefined, minimum: Role): boolean {
  return role !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

/** The namespace of a repository: its first path component (`alpine` is in namespace `alpine`). */
export function namespaceOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash === -1 ? repository : repository.slice(0, slash);
}

/** Matches a robot's repository grant: an exact name, or a glob where `*` stays within one path component. */
export function repositoryMatches(pattern: string, repository: string): boolean {
  return new RegExp(globToRegex(pattern)).test(repository);
}

/** The anchored regular expression of a grant pattern (the same syntax in JavaScript and Postgres). */
export function globToRegex(pattern: string): string {
  return `^${pattern.split('*').map(escapeRegex).join('[^/]*')}$`;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
