import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigNumber } from './big-number.transformer.js';

/** A content-addressed blob, stored once whatever the number of repositories linking it. */
@Entity('blobs')
export class BlobEntity {
  @PrimaryColumn({ type: 'varchar', length: 150 })
  digest: string;

  @Column({ type: 'bigint', transformer: bigNumber })
  size: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
