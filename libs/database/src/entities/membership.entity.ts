import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export type Role = 'reader' | 'developer' | 'maintainer' | 'owner';

@Entity('memberships')
export class MembershipEntity {
  @PrimaryColumn({ name: 'namespace_id', type: 'bigint' })
  namespaceId: string;

  @PrimaryColumn({ name: 'user_id', type: 'bigint' })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  role: Role;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
