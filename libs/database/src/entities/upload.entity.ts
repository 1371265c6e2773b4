import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigNumber } from './big-number.transformer.js';

/**
 * An upload session. Its state lives here and in storage, never only in memory,
 * so it survives restarts and works across replicas.
 */
@Entity('uploads')
export class UploadEntity {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ name: 'repository_id', type: 'bigint', transformer: bigNumber })
  repositoryId: number;

  /** Bytes committed to storage so far. */
  @Column({ type: 'bigint', transformer: bigNumber })
  size: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
