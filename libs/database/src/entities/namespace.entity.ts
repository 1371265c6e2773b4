import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

/** proxy: a pull-through cache of an upstream registry (libs/proxy), otherwise an organisation. */
export type NamespaceKind = 'organization' | 'user' | 'proxy';
export type Visibility = 'private' | 'public';

/** The first path component of repository names: an organisation or a user's personal space. */
@Entity('namespaces')
export class NamespaceEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  kind: NamespaceKind;

  @Column({ type: 'varchar', length: 16, default: 'private' })
  visibility: Visibility;

  /** The user of a personal namespace. */
  @Column({ name: 'owner_user_id', type: 'bigint', nullable: true })
  ownerUserId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
