import type { RegistryAction } from '@berth/database';

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
  /** When the password last changed (ms): refresh tokens carry it and die when it moves. */
  credentialVersion?: number;
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
}

export const ANONYMOUS: AnonymousIdentity = { kind: 'anonymous' };

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
