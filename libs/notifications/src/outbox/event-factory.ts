import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable } from '@nestjs/common';
import { BerthConfig } from '@berth/config';
import type { EventContext, EventDraft, RegistryEvent } from '../registry-event.js';

/** Distinguishes this process in `source.instanceID`, as Distribution does. */
const INSTANCE_ID = randomUUID();

/** Completes what a service knows of an event into Distribution's envelope. */
@Injectable()
export class EventFactory {
  private readonly source: RegistryEvent['source'];

  constructor(config: BerthConfig) {
    this.source = { addr: `${hostname()}:${config.port}`, instanceID: INSTANCE_ID };
  }

  create(context: EventContext, draft: EventDraft): RegistryEvent {
    return {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      action: draft.action,
      target: draft.target,
      request: { id: context.requestId, addr: context.addr, host: context.host, method: context.method, useragent: context.userAgent },
      actor: context.actor ? { name: context.actor } : {},
      source: this.source,
    };
  }
}
