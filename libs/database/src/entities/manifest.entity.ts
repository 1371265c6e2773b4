import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { bigNumber } from './big-number.transformer.js';

/** A manifest in one repository, with the exact bytes it was pushed with. */
@Entity('manifests')
export class ManifestEntity {
  /** bigint: TypeORM hands it over as a string. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'repository_id', type: 'bigint', transformer: bigNumber })
  repositoryId: number;

  @Column({ type: 'varchar', length: 150 })
  digest: string;

  @Column({ name: 'media_type', type: 'varchar', length: 255 })
  mediaType: string;

  @Column({ name: 'artifact_type', type: 'varchar', length: 255, nullable: true })
  artifactType: string | null;

  @Column({ type: 'integer' })
  size: number;

  @Column({ type: 'bytea' })
  content: Buffer;

  @Column({ name: 'subject_digest', type: 'varchar', length: 150, nullable: true })
  subjectDigest: string | null;

  @Column({ type: 'jsonb', nullable: true })
  annotations: Record<string, string> | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
