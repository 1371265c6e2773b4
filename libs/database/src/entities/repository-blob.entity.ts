import { CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigNumber } from './big-number.transformer.js';

/** A blob is visible in a repository only through a link (pushed or mounted there). */
@Entity('repository_blobs')
export class RepositoryBlobEntity {
  @PrimaryColumn({ name: 'repository_id', type: 'bigint', transformer: bigNumber })
  repositoryId: number;

  @PrimaryColumn({ type: 'varchar', length: 150 })
  digest: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
