import type { EntityManager } from 'typeorm';

/** First key of the two-key advisory locks on one blob digest ('blob'). */
const BLOB_LOCK = 0x626c6f62;

/**
 * Waits for the transaction-scoped lock on one digest. Whatever makes a blob row or
 * file appear (an upload completing, a mount) and garbage collection removing them take
 * it, so GC never deletes a file that a push has just found in storage and is about to
 * record, nor a row that a mount is linking. Must run inside a transaction.
 */
export async function lockBlobDigest(manager: EntityManager, digest: string): Promise<void> {
  await manager.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [BLOB_LOCK, digest]);
}
