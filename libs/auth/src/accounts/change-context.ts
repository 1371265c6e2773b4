import type { Identity } from '../identity.js';

/** Who asks for a change and from where: what the audit entry of the change records. */
export interface ChangeContext {
  /** An identity, or `system` for changes made at start-up. */
  actor: Identity | string;
  clientAddr?: string;
}
