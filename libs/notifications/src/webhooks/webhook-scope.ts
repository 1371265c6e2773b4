/**
 * Where a subscription lives: the global list (administrators; every repository's
 * events) or one namespace's (its owners; only that namespace's repositories).
 */
export type WebhookScope = { kind: 'global' } | { kind: 'namespace'; namespace: string };

export const GLOBAL_WEBHOOKS: WebhookScope = { kind: 'global' };

export function namespaceWebhooks(namespace: string): WebhookScope {
  return { kind: 'namespace', namespace };
}

/** `global` or the namespace's name: how audit entries and messages name the scope. */
export function scopeLabel(scope: WebhookScope): string {
  return scope.kind === 'global' ? 'global' : `namespace ${scope.namespace}`;
}
