import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigNumber } from './big-number.transformer.js';

@Entity('tags')
export class TagEntity {
  @PrimaryColumn({ name: 'repository_id', type: 'bigint', transformer: bigNumber })
  repositoryId: number;

  @PrimaryColumn({ type: 'varchar', length: 128 })
  name: string;

  @Column({ name: 'manifest_id', type: 'bigint', transformer: bigNumber })
  manifestId: number;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
