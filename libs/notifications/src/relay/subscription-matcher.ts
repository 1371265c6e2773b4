import type { RegistryEvent } from '../registry-event.js';
import { repositoryPatternRegex } from '../webhooks/repository-pattern.js';

/** What the relay reads of an enabled subscription. */
export interface Subscription {
  id: string;
  /** Name of the namespace a namespace subscription belongs to; null for a global one. */
  namespace: string | null;
  /** null: every action. */
  actions: string[] | null;
  ignoredMediaTypes: string[];
  repositoryPattern: string | null;
  maxAttempts: number;
}

/**
 * Whether a subscription wants an event. A namespace subscription sees the
 * repositories whose first path component is its namespace; the repository pattern
 * (the webhooks' syntax: `*` within a path component, `**` across components) is
 * matched against the full repository name.
 */
export class SubscriptionMatcher {
  private readonly pattern?: RegExp;

  constructor(readonly subscription: Subscription) {
    if (subscription.repositoryPattern) this.pattern = new RegExp(repositoryPatternRegex(subscription.repositoryPattern));
  }

  matches(event: RegistryEvent): boolean {
    const { namespace, actions, ignoredMediaTypes } = this.subscription;
    const repository = event.target.repository;
    if (namespace !== null && repository.split('/')[0] !== namespace) return false;
    if (actions !== null && !actions.includes(event.action)) return false;
    if (event.target.mediaType !== undefined && ignoredMediaTypes.includes(event.target.mediaType)) return false;
    return this.pattern === undefined || this.pattern.test(repository);
  }
}
