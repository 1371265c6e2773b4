import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/**
 * The `uploads` rows that GC's and the integrity check's file deletions respect: a completion records its digest on its
 * session before it moves the file to that address, and commits the blob row after; a
 * crash in between leaves a file with no row that the retry still needs.
 */
@Injectable()
export class PendingCompletionStore {
  /** Whether an open upload session has recorded `digest` as the blob it completes to. */
  async awaits(m: EntityManager, digest: string): Promise<boolean> {
    const rows: unknown[] = await m.query('SELECT 1 FROM uploads WHERE digest = $1 LIMIT 1', [digest]);
    return rows.length > 0;
  }

  /** Those of `digests` that an open upload session has recorded. */
  async awaited(m: EntityManager, digests: readonly string[]): Promise<Set<string>> {
    const rows: { digest: string }[] = await m.query('SELECT DISTINCT digest FROM uploads WHERE digest = ANY($1::text[])', [digests]);
    return new Set(rows.map((r) => r.digest));
  }
}
