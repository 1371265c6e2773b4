import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BerthConfig } from '@berth/config';
import { STORAGE_DRIVER, type StorageDriver, uploadDataPath, uploadDir } from '@berth/storage';

export interface PurgeResult {
  sessionsDeleted: number;
  /** Staging files with no session (a single-request upload cut off by a crash). */
  orphansDeleted: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const BATCH = 500;

/**
 * Removes upload sessions no chunk has reached for UPLOAD_MAX_AGE_SECONDS (a chunk
 * refreshes `updated_at` when it is stored), with their staging files, and staging
 * files that belong to no session and were last written that long ago. A single
 * request still streaming after that long would lose its session: the age is meant
 * to be generous (a day by default).
 */
@Injectable()
export class UploadPurger {
  private readonly logger = new Logger('Uploads');

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(BerthConfig) private readonly config: BerthConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  async purge(): Promise<PurgeResult> {
    const maxAge = this.config.gc.uploadMaxAgeSeconds;
    const [stale]: [{ id: string }[], number] = await this.dataSource.query(
      'DELETE FROM uploads WHERE updated_at < now() - make_interval(secs => $1) RETURNING id',
      [maxAge],
    );
    for (const { id } of stale) await this.storage.delete(uploadDir(id));

    let orphansDeleted = 0;
    const cutoff = Date.now() - maxAge * 1000;
    const names = (await this.storage.list('uploads')).filter((name) => UUID.test(name));
    for (let i = 0; i < names.length; i += BATCH) {
      const batch = names.slice(i, i + BATCH);
      const rows: { id: string }[] = await this.dataSource.query('SELECT id::text AS id FROM uploads WHERE id = ANY($1::uuid[])', [batch]);
      const live = new Set(rows.map((r) => r.id));
      for (const id of batch.filter((name) => !live.has(name))) {
        const info = await this.storage.stat(uploadDataPath(id));
        if (!info || info.modifiedAt.getTime() >= cutoff) continue;
        await this.storage.delete(uploadDir(id));
        orphansDeleted++;
      }
    }
    if (stale.length || orphansDeleted) {
      this.logger.log(`purged ${stale.length} stale upload sessions and ${orphansDeleted} orphan staging files`);
    }
    return { sessionsDeleted: stale.length, orphansDeleted };
  }
}
