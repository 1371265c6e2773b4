import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Who changed what, when, from where. Written by AuditService, read by the admin API. */
@Entity('audit_log')
export class AuditEntryEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  at: Date;

  @Column({ type: 'varchar', length: 200 })
  actor: string;

  @Column({ type: 'varchar', length: 64 })
  action: string;

  @Column({ type: 'varchar', length: 300 })
  target: string;

  @Column({ type: 'jsonb', nullable: true })
  detail: Record<string, unknown> | null;

  @Column({ name: 'client_addr', type: 'varchar', length: 64, nullable: true })
  clientAddr: string | null;
}
