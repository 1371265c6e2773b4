import type { RegistryAction } from '@berth/database';
import type { Subject } from './credential-generation.store.js';

/** Who is making a request, once credentials (or their absence) are checked. */
export type Identity = AnonymousIdentity | UserIdentity | RobotIdentity;

export interface AnonymousIdentity {
  kind: 'anonymous';
}

export interface UserIdentity {
  kind: 'user';
  id: string;
  username: string;
  isAdmin: boolean;
  /**
   * The generations tokens are issued under (see RevocationService); absent: 0.
   * `generation` is behind after any revocation, `credentialGeneration` after one of the credentials.
   */
  generation?: number;
  credentialGeneration?: number;
}

export interface RobotIdentity {
  kind: 'robot';
  id: string;
  /** `<namespace>+<robot name>`: the login name. */
  username: string;
  namespace: string;
  actions: RegistryAction[];
  /** Repository names or globs inside the namespace; null = all. */
  repositories: string[] | null;
  /** As for users: rotation, revocation and deletion move both on. */
  generation?: number;
  credentialGeneration?: number;
}

export const ANONYMOUS: AnonymousIdentity = { kind: 'anonymous' };

/**
 * The stable subject of an identity's tokens: its kind and database id, so that an
 * account deleted and created again under the same name is another subject.
 */
export function subjectOf(identity: Identity): Subject | undefined {
  return identity.kind === 'anonymous' ? undefined : `${identity.kind}:${identity.id}`;
}

/** The name audit entries and tokens use for an identity. */
export function actorName(identity: Identity): string {
  return identity.kind === 'anonymous' ? 'anonymous' : identity.username;
}

/** One entry of a token's `access` claim (Docker token spec). */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** What the global guard leaves on the request. */
export interface Principal {
  identity: Identity;
  /** Access granted by a bearer token; absent when the request carried Basic credentials. */
  tokenAccess?: AccessEntry[];
}
