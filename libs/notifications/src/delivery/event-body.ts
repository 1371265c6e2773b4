const EVENT_KEYS = ['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source'];
const TARGET_KEYS = ['mediaType', 'size', 'digest', 'length', 'repository', 'fromRepository', 'url', 'tag'];

/**
 * The request body for one stored event: `{"events":[event]}` as Distribution sends
 * it. Postgres (jsonb) keeps keys in an order of its own; they are put back in the
 * envelope's order so that a body reads like Distribution's.
 */
export function deliveryBody(event: Record<string, unknown>): string {
  const target = event.target as Record<string, unknown> | undefined;
  const ordered = inOrder(event, EVENT_KEYS);
  if (target && typeof target === 'object') ordered.target = inOrder(target, TARGET_KEYS);
  return JSON.stringify({ events: [ordered] });
}

function inOrder(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (key in value) out[key] = value[key];
  for (const key of Object.keys(value)) if (!(key in out)) out[key] = value[key];
  return out;
}
