import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigNumber } from './big-number.transformer.js';

/** What a manifest points at: its config and layer blobs, or an index's child manifests. */
@Entity('manifest_references')
export class ManifestReferenceEntity {
  @PrimaryColumn({ name: 'manifest_id', type: 'bigint', transformer: bigNumber })
  manifestId: number;

  @PrimaryColumn({ type: 'varchar', length: 150 })
  digest: string;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  kind: 'blob' | 'manifest';

  @Column({ type: 'bigint', transformer: bigNumber })
  size: number;
}
