/**
 * A registry event in CNCF Distribution's notification envelope, so subscribers
 * written for Distribution keep working: POST {"events":[…]} with
 * Content-Type application/vnd.docker.distribution.events.v1+json.
 */
export type EventAction = 'push' | 'pull' | 'mount' | 'delete';

export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export interface RegistryEvent {
  /** UUID: subscribers drop duplicates by it (delivery is at least once). */
  id: string;
  timestamp: string;
  action: EventAction;
  target: {
    mediaType?: string;
    size?: number;
    digest?: string;
    length?: number;
    repository: string;
    url?: string;
    tag?: string;
    /** For a mount: where the blob came from (Distribution's `fromRepository`). */
    fromRepository?: string;
  };
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

/** What an event needs from the HTTP request that caused it. */
export interface EventContext {
  requestId: string;
  addr: string;
  host: string;
  method: string;
  userAgent: string;
  /** Login of the caller (user or robot), absent for anonymous. */
  actor?: string;
}

/** The parts of an event a service knows; the outbox adds id, timestamp, request, actor and source. */
export interface EventDraft {
  action: EventAction;
  target: RegistryEvent['target'];
}
