import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type RegistryAction = 'pull' | 'push' | 'delete';

/** A namespace's machine account for CI: chosen actions on all or some of its repositories. */
@Entity('robots')
export class RobotEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'namespace_id', type: 'bigint' })
  namespaceId: string;

  @Column({ type: 'varchar', length: 64 })
  name: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  /** sha256 of the secret (the secret is 256 random bits, so a slow hash adds nothing). */
  @Column({ name: 'secret_hash', type: 'varchar', length: 64, select: false })
  secretHash: string;

  @Column({ type: 'text', array: true })
  actions: RegistryAction[];

  /** Repository names (glob `*` allowed) inside the namespace; null means all of them. */
  @Column({ type: 'text', array: true, nullable: true })
  repositories: string[] | null;

  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
