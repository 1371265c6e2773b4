const EVENT_KEYS = ['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source'];
const TARGET_KEYS = ['mediaType', 'size', 'digest', 'length', 'repository', 'fromRepository', 'url', 'tag'];

type StoredEvent = Record<string, unknown>;

/**
 * The events of a stored delivery payload (webhook_deliveries.payload). A batch of
 * pull events is stored as the array of them; any other delivery (push, mount,
 * delete, ping, and every delivery written before batching) as its one event.
 */
export function payloadEvents(payload: unknown): StoredEvent[] {
  return Array.isArray(payload) ? (payload as StoredEvent[]) : [payload as StoredEvent];
}

/**
 * The request body for the events of one delivery: `{"events":[…]}` as Distribution
 * sends it (one event, or a batch of pulls). Postgres (jsonb) keeps keys in an order
 * of its own; they are put back in the envelope's order so that a body reads like
 * Distribution's.
 */
export function deliveryBody(events: StoredEvent[]): string {
  return JSON.stringify({ events: events.map(ordered) });
}

function ordered(event: StoredEvent): StoredEvent {
  const target = event.target as StoredEvent | undefined;
  const out = inOrder(event, EVENT_KEYS);
  if (target && typeof target === 'object') out.target = inOrder(target, TARGET_KEYS);
  return out;
}

function inOrder(value: StoredEvent, keys: string[]): StoredEvent {
  const out: StoredEvent = {};
  for (const key of keys) if (key in value) out[key] = value[key];
  for (const key of Object.keys(value)) if (!(key in out)) out[key] = value[key];
  return out;
}
