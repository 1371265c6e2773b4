import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RegistryEvent } from '../registry-event.js';

/**
 * The test event `POST …/webhooks/{id}/ping` sends: the envelope of every event with
 * the action `ping`, which no registry change produces, so a subscriber that acts on
 * push/pull/mount/delete ignores it (a push-shaped test event could start a real
 * deployment). Its target names no repository.
 */
export interface PingEvent extends Omit<RegistryEvent, 'action' | 'target'> {
  action: 'ping';
  target: { repository: '' };
}

export const PING_ACTION = 'ping';

/** Distinguishes this process in `source.instanceID`, as Distribution does. */
const INSTANCE_ID = randomUUID();

export function pingEvent(actor: string, clientAddr: string | undefined): PingEvent {
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action: PING_ACTION,
    target: { repository: '' },
    request: { id: randomUUID(), addr: clientAddr ?? '', host: '', method: 'POST', useragent: '' },
    actor: { name: actor },
    source: { addr: hostname(), instanceID: INSTANCE_ID },
  };
}
