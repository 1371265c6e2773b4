import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type ChangeContext, type Identity, NamespaceService, isAccountName, namespaceOf } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { RegistryError, assertRepositoryName } from '@berth/core';
import { type PushTarget, RepositoryStore } from './repository.store.js';

/** Finds and creates repositories by name; a repository is only ever created inside an existing namespace. */
@Injectable()
export class RepositoryService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: BerthConfig,
    private readonly namespaces: NamespaceService,
    private readonly store: RepositoryStore,
  ) {}

  /** The repository's id, or undefined; throws NAME_INVALID for a malformed name. */
  async findId(name: string, manager: EntityManager = this.dataSource.manager): Promise<number | undefined> {
    assertRepositoryName(name);
    return this.store.findId(manager, name);
  }

  /** Like findId, but a missing repository is NAME_UNKNOWN. */
  async requireId(name: string): Promise<number> {
    const id = await this.findId(name);
    if (id === undefined) throw new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`, { name });
    return id;
  }

  /**
   * Creates the repository when missing; safe when many requests create it at once.
   * A missing namespace is 403 DENIED (only a system administrator gets this far: no one
   * else may push there): a repository no namespace owns would escape quotas and members.
   */
  async ensureId(name: string, manager: EntityManager = this.dataSource.manager): Promise<number> {
    assertRepositoryName(name);
    const existing = await this.store.findId(manager, name);
    if (existing !== undefined) return existing;
    const namespace = namespaceOf(name);
    for (;;) {
      const result = await this.store.insertInNamespace(manager, name, namespace);
      if ('id' in result) return result.id;
      if (result.missing === 'namespace') throw missingNamespace(namespace, this.config.autoCreateNamespaces);
    }
  }

  /**
   * The repository's id (when it exists) and its namespace's quota, in one statement;
   * undefined when the namespace is missing (and `create`, when given, could not create it).
   */
  async pushTarget(name: string, create?: NamespaceCreator): Promise<PushTarget | undefined> {
    assertRepositoryName(name);
    const target = await this.store.pushTarget(this.dataSource.manager, name, namespaceOf(name));
    if (target || !create) return target;
    await create();
    return this.store.pushTarget(this.dataSource.manager, name, namespaceOf(name));
  }

  /**
   * With AUTO_CREATE_NAMESPACES, what creates a missing namespace for a system
   * administrator's push (an organisation they own); undefined when this pusher may not.
   * Called only once a push finds the namespace missing, so pushes into existing
   * namespaces pay nothing for it.
   */
  namespaceCreator(name: string, identity: Identity, ctx: ChangeContext): NamespaceCreator | undefined {
    const namespace = namespaceOf(name);
    if (!this.config.autoCreateNamespaces || identity.kind !== 'user' || !identity.isAdmin || !isAccountName(namespace)) return undefined;
    return () => this.namespaces.createForPush(namespace, identity, ctx);
  }

  /** Runs `push`; when it finds the namespace missing and `create` may create it, creates it and runs `push` once more. */
  async withNamespace<T>(create: NamespaceCreator | undefined, push: () => Promise<T>): Promise<T> {
    try {
      return await push();
    } catch (err) {
      if (!(err instanceof MissingNamespaceError) || !create) throw err;
      await create();
      return push();
    }
  }
}

/** Creates a missing namespace for a push (a no-op when it exists meanwhile). */
export type NamespaceCreator = () => Promise<void>;

/** A push into a namespace that does not exist. */
export class MissingNamespaceError extends RegistryError {}

function missingNamespace(namespace: string, autoCreate: boolean): RegistryError {
  const hint = autoCreate
    ? 'it is created automatically only for names of 2-64 lowercase letters and digits, and never over a user name'
    : 'an administrator creates it first (POST /api/v1/namespaces or the console)';
  return new MissingNamespaceError('DENIED', `namespace ${namespace} does not exist: ${hint}`, { namespace });
}
