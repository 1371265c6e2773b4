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
  await manager.query(`SELECT ${blobDigestLock('$1')}`, [digest]);
}

/** The SQL call that takes lockBlobDigest's lock, for a statement that takes it after other locks; `digest` is its parameter. */
export function blobDigestLock(digest: string): string {
  return `pg_advisory_xact_lock(${BLOB_LOCK}, hashtext(${digest}))`;
}

/**
 * Takes, without waiting, the lock of each digest that no one else holds, and returns
 * those digests: a batch of deletions skips a digest that an upload is storing right
 * now (it will be kept or collected by a later run) instead of waiting behind it.
 * Must run inside a transaction.
 */
export async function tryLockBlobDigests(manager: EntityManager, digests: readonly string[]): Promise<string[]> {
  const rows: { digest: string }[] = await manager.query(
    'SELECT d AS digest FROM unnest($2::text[]) AS d WHERE pg_try_advisory_xact_lock($1, hashtext(d))',
    [BLOB_LOCK, digests],
  );
  return rows.map((r) => r.digest);
}
