import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { databaseUnavailable } from '@berth/database';
import { CredentialGenerationStore, type Subject } from './credential-generation.store.js';
import { type Identity, subjectOf } from './identity.js';

/** How often a replica reads the generations that changed: revocation reaches it within about this long. */
const POLL_MS = 2_000;
/** Past this without a successful read the list may miss a revocation: tokens are then refused with 503. */
const STALE_MS = 8_000;

/**
 * Every replica's copy of the credential generations, so a registry token is checked
 * against revocations without a database query per request. Tokens carry the
 * generation their subject had when they were issued; a revocation moves it on in
 * the database, and each replica reads the changes every POLL_MS. A token whose
 * generation is behind is refused: on every replica within a few seconds, instead of
 * when it expires. The same read brings the login failures counted on every replica,
 * for the verified-login cache (VerifiedLogins).
 */
@Injectable()
export class RevocationService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Auth');
  private readonly generations = new Map<Subject, number>();
  private horizon?: string;
  private syncedAt = 0;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private failure?: string;
  private readonly failedPairListeners: ((pairs: string[]) => void)[] = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly store: CredentialGenerationStore,
  ) {}

  /** The first read is awaited: a replica serves no token before it knows the revocations. */
  async onModuleInit(): Promise<void> {
    await this.sync();
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Whether a token issued to `identity` under `generation` still stands; throws UNAVAILABLE while the list is stale. */
  stands(identity: Identity, generation: number | undefined): boolean {
    const subject = subjectOf(identity);
    if (!subject) return true;
    if (Date.now() - this.syncedAt > STALE_MS) throw databaseUnavailable();
    return (generation ?? 0) >= (this.generations.get(subject) ?? 0);
  }

  /** Like `stands`, but false instead of throwing while the list is stale: for caches that can fall back to the database. */
  knownToStand(identity: Identity, generation: number | undefined): boolean {
    return Date.now() - this.syncedAt <= STALE_MS && this.stands(identity, generation);
  }

  /** Called with the throttle keys of (account, address) pairs that failed to log in on any replica, as each read finds them. */
  onFailedPairs(listener: (pairs: string[]) => void): void {
    this.failedPairListeners.push(listener);
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.sync()
        .then(() => {
          if (this.failure) this.logger.log('reading credential revocations again');
          this.failure = undefined;
        })
        .catch((err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          if (message !== this.failure) this.logger.warn(`cannot read credential revocations: ${message}`);
          this.failure = message;
        })
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule();
        });
    }, POLL_MS);
    this.timer.unref();
  }

  private async sync(): Promise<void> {
    const started = Date.now();
    const { changes, failedPairs, horizon } = await this.store.changedSince(this.dataSource.manager, this.horizon);
    for (const [subject, generation] of changes) {
      if (generation > (this.generations.get(subject) ?? 0)) this.generations.set(subject, generation);
    }
    if (failedPairs.length) for (const listener of this.failedPairListeners) listener(failedPairs);
    this.horizon = horizon;
    this.syncedAt = started;
  }
}
