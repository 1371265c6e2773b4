import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which request is writing to an upload session, until when. Chunks of one session may
 * reach different replicas: a request claims the session in its row before it touches
 * the staged bytes, so two processes never write the same staging file at once. A
 * claim left by a crashed process lapses at `writer_until`.
 */
export class UploadWriters1764600000000 implements MigrationInterface {
  name = 'UploadWriters1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads ADD COLUMN writer uuid, ADD COLUMN writer_until timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads DROP COLUMN IF EXISTS writer_until, DROP COLUMN IF EXISTS writer`);
  }
}
