import type { BerthConfig } from '@berth/config';

/** Tuning of the notifications runtime; every field has a production default. */
export interface NotificationsOptions {
  /** Run the delivery processor and history pruning in this process; default `config.runWorkers`. */
  workers?: boolean;
  /** First retry delay; attempt n waits base·2^(n-1), jittered down by up to half. Default WEBHOOK_RETRY_BASE_MS. */
  retryBaseDelayMs?: number;
  /** No single retry waits longer than this. Default one hour. */
  retryMaxDelayMs?: number;
  /** Deliveries one process sends at once. Default 10. */
  concurrency?: number;
  /** How often the relay looks for outbox rows without being woken. Default 1 s. */
  relayIntervalMs?: number;
  /** How often the sweeper looks for deliveries whose job vanished. Default 30 s. */
  sweepIntervalMs?: number;
  /** How long a due delivery may wait for its job before the sweeper re-creates it. Default 30 s. */
  sweepGraceMs?: number;
  /** How often old history is pruned. Default one hour. */
  pruneIntervalMs?: number;
}

export type ResolvedNotificationsOptions = Required<NotificationsOptions>;

/** The injection token of the resolved options. */
export const NOTIFICATIONS_OPTIONS = Symbol('NOTIFICATIONS_OPTIONS');

export function resolveNotificationsOptions(config: BerthConfig, options: NotificationsOptions): ResolvedNotificationsOptions {
  return {
    workers: options.workers ?? config.runWorkers,
    retryBaseDelayMs: options.retryBaseDelayMs ?? config.webhooks.retryBaseMs,
    retryMaxDelayMs: options.retryMaxDelayMs ?? 3_600_000,
    concurrency: options.concurrency ?? 10,
    relayIntervalMs: options.relayIntervalMs ?? 1000,
    sweepIntervalMs: options.sweepIntervalMs ?? 30_000,
    sweepGraceMs: options.sweepGraceMs ?? 30_000,
    pruneIntervalMs: options.pruneIntervalMs ?? 3_600_000,
  };
}
