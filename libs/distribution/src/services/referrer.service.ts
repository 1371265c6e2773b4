import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type Descriptor, assertRepositoryName, parseDigest } from '@berth/core';
import { PullThroughHooks } from './pull-through.js';

/** Manifests whose `subject` is a given digest (the OCI 1.1 referrers API). */
@Injectable()
export class ReferrerService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly pullThrough: PullThroughHooks,
  ) {}

  async list(name: string, digest: string, artifactType?: string): Promise<Descriptor[]> {
    assertRepositoryName(name);
    parseDigest(digest);
    const pullThrough = this.pullThrough.covering(name);
    if (pullThrough) return pullThrough.referrers(name, digest, artifactType);
    const rows: { media_type: string; digest: string; size: number; artifact_type: string | null; annotations: Record<string, string> | null }[] =
      await this.dataSource.query(
        `SELECT m.media_type, m.digest, m.size, m.artifact_type, m.annotations FROM manifests m
           JOIN repositories r ON r.id = m.repository_id
          WHERE r.name = $1 AND m.subject_digest = $2 AND ($3::text IS NULL OR m.artifact_type = $3)
          ORDER BY m.digest`,
        [name, digest, artifactType ?? null],
      );
    return rows.map((row) => ({
      mediaType: row.media_type,
      digest: row.digest,
      size: row.size,
      ...(row.artifact_type ? { artifactType: row.artifact_type } : {}),
      ...(row.annotations ? { annotations: row.annotations } : {}),
    }));
  }
}
