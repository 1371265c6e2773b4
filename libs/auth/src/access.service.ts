import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { isRepositoryName } from '@berth/core';
import type { RegistryAction, Role } from '@berth/database';
import { type NamespaceAccess, NamespaceStore } from './accounts/namespace.store.js';
import type { AccessEntry, Identity, Principal } from './identity.js';
import { RepositoryAliases } from './repository-aliases.js';
import { REGISTRY_ACTIONS, ROLE_ACTIONS, globToRegex, namespaceOf, repositoryMatches } from './roles.js';

/** A requested scope, parsed from `type:name:actions` (the name may contain `:`). */
export interface Scope {
  type: string;
  name: string;
  actions: string[];
}

/** Parses one scope string; undefined when malformed (malformed scopes are ignored, not errors). */
export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = text.slice(last + 1).split(',').filter(Boolean);
  return { type: text.slice(0, first), name: text.slice(first + 1, last), actions };
}

/** Decides what an identity may do: the permission model of namespaces, roles and robots. */
@Injectable()
export class AccessService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly namespaces: NamespaceStore,
    private readonly aliases: RepositoryAliases,
  ) {}

  /** Registry actions `identity` may perform on `repository`. */
  async allowedActions(identity: Identity, repository: string): Promise<Set<RegistryAction>> {
    if (identity.kind === 'user' && identity.isAdmin) return new Set(REGISTRY_ACTIONS);
    const namespace = namespaceOf(repository);
    return actionsOn(identity, repository, (await this.namespaceAccess(identity, [namespace])).get(namespace));
  }

  /** Whether the caller may pull `repository`: by its token's grant, or by its permissions. */
  async mayPull(principal: Principal, repository: string): Promise<boolean> {
    if (principal.tokenAccess) {
      return principal.tokenAccess.some((a) => a.type === 'repository' && a.name === repository && a.actions.includes('pull'));
    }
    return (await this.allowedActions(principal.identity, repository)).has('pull');
  }

  /**
   * The token's `access` claim: requested ∩ permitted, per scope. Unknown types are dropped.
   * The namespaces of all scopes are read in one query, however many scopes there are.
   * A pull-only scope for an alias (see RepositoryAliases) is decided and granted for the repository it stands for.
   */
  async grant(identity: Identity, requested: Scope[]): Promise<AccessEntry[]> {
    const aliasable = (s: Scope) => s.type === 'repository' && isRepositoryName(s.name) && s.actions.length > 0 && s.actions.every((a) => a === 'pull');
    const aliases = await this.aliases.resolve([...new Set(requested.filter(aliasable).map((s) => s.name))]);
    const scopes = aliases.size ? requested.map((s) => (aliasable(s) && aliases.has(s.name) ? { ...s, name: aliases.get(s.name)! } : s)) : requested;
    const repositories = scopes.filter((s) => s.type === 'repository' && isRepositoryName(s.name));
    const admin = identity.kind === 'user' && identity.isAdmin;
    const access = repositories.length && !admin ? await this.namespaceAccess(identity, [...new Set(repositories.map((s) => namespaceOf(s.name)))]) : new Map();
    const granted: AccessEntry[] = [];
    for (const scope of scopes) {
      if (scope.type === 'registry' && scope.name === 'catalog') {
        // Everyone may list; the listing shows only what the caller may pull.
        if (scope.actions.includes('*')) granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (scope.type !== 'repository' || !isRepositoryName(scope.name)) continue;
      const allowed = admin ? new Set(REGISTRY_ACTIONS) : actionsOn(identity, scope.name, access.get(namespaceOf(scope.name)));
      const wanted = scope.actions.includes('*') ? [...REGISTRY_ACTIONS] : scope.actions;
      const actions = wanted.filter((a): a is RegistryAction => allowed.has(a as RegistryAction));
      if (actions.length) granted.push({ type: 'repository', name: scope.name, actions: [...new Set(actions)] });
    }
    return granted;
  }

  /** The user's role in a namespace (undefined for none); administrators count as owners. */
  async roleIn(identity: Identity, namespace: string): Promise<Role | undefined> {
    if (identity.kind !== 'user') return undefined;
    if (identity.isAdmin) return 'owner';
    return (await this.namespaceAccess(identity, [namespace])).get(namespace)?.role;
  }

  /**
   * SQL condition (on a repository name column) for the catalog: the repositories the
   * identity may pull. Returns the clause and its parameters, numbered from `firstParam`.
   */
  pullableFilter(identity: Identity, column: string, firstParam: number): { clause: string; params: unknown[] } {
    const ns = `split_part(${column}, '/', 1)`;
    const publicNs = `${ns} IN (SELECT name FROM namespaces WHERE visibility = 'public')`;
    if (identity.kind === 'user' && identity.isAdmin) return { clause: 'TRUE', params: [] };
    if (identity.kind === 'user') {
      return {
        clause: `(${publicNs} OR ${ns} IN (SELECT n.name FROM namespaces n JOIN memberships m ON m.namespace_id = n.id WHERE m.user_id = $${firstParam}))`,
        params: [identity.id],
      };
    }
    if (identity.kind === 'robot') {
      if (!identity.actions.includes('pull') && !identity.actions.includes('push')) return { clause: publicNs, params: [] };
      const granted = identity.repositories === null ? 'TRUE' : `${column} ~ ANY($${firstParam + 1}::text[])`;
      return {
        clause: `(${publicNs} OR (${ns} = $${firstParam} AND ${granted}))`,
        params: identity.repositories === null ? [identity.namespace] : [identity.namespace, identity.repositories.map(globToRegex)],
      };
    }
    return { clause: publicNs, params: [] };
  }

  private namespaceAccess(identity: Identity, namespaces: string[]): Promise<Map<string, NamespaceAccess>> {
    return this.namespaces.access(this.dataSource.manager, namespaces, identity.kind === 'user' ? identity.id : null);
  }
}

/** What `identity` (not an administrator) may do on `repository`, given its namespace's access (undefined: no such namespace). */
function actionsOn(identity: Identity, repository: string, access: NamespaceAccess | undefined): Set<RegistryAction> {
  const allowed = new Set<RegistryAction>();
  if (access?.visibility === 'public') allowed.add('pull');
  if (identity.kind === 'user' && access?.role) for (const a of ROLE_ACTIONS[access.role]) allowed.add(a);
  if (identity.kind === 'robot' && identity.namespace === namespaceOf(repository) && access) {
    const inGrant = identity.repositories === null || identity.repositories.some((p) => repositoryMatches(p, repository));
    if (inGrant) {
      for (const a of identity.actions) allowed.add(a);
      // Pushing needs to read what is there (HEAD before upload, manifest checks).
      if (identity.actions.includes('push')) allowed.add('pull');
    }
  }
  return allowed;
}
