import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/**
 * Deduplicated bytes, as quotas count them: blobBytes sums the distinct blobs linked
 * (pushed or mounted), each once however many repositories link it; manifestBytes sums
 * the stored manifests (every repository keeps its own copy of a manifest's bytes).
 */
export interface StorageUsage {
  blobBytes: number;
  manifestBytes: number;
  totalBytes: number;
}

export interface NamespaceUsage extends StorageUsage {
  namespace: string;
  repositories: number;
}

/**
 * Usage per repository and per namespace. Every query starts from the namespace index
 * on repositories and the (repository, digest) keys, so its cost grows with what the
 * namespace holds, not with the registry.
 */
@Injectable()
export class StorageUsageService {
  constructor(private readonly dataSource: DataSource) {}

  async ofNamespace(namespace: string, manager: EntityManager = this.dataSource.manager): Promise<NamespaceUsage> {
    const [row]: { repositories: string; blob_bytes: string; manifest_bytes: string }[] = await manager.query(
      `SELECT (SELECT count(*) FROM repositories WHERE namespace = $1) AS repositories,
              (SELECT COALESCE(sum(b.size), 0)
                 FROM (SELECT DISTINCT rb.digest FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id
                        WHERE r.namespace = $1) linked
                 JOIN blobs b ON b.digest = linked.digest) AS blob_bytes,
              (SELECT COALESCE(sum(m.size), 0) FROM repositories r JOIN manifests m ON m.repository_id = r.id
                WHERE r.namespace = $1) AS manifest_bytes`,
      [namespace],
    );
    return { namespace, repositories: Number(row.repositories), ...usage(row.blob_bytes, row.manifest_bytes) };
  }

  /** The size of the blob when a repository of the namespace already links it (so it adds nothing to the namespace). */
  async linkedSizeInNamespace(namespace: string, digest: string, manager: EntityManager = this.dataSource.manager): Promise<number | undefined> {
    const rows: { size: string }[] = await manager.query(
      `SELECT b.size FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
        WHERE rb.digest = $2 AND r.namespace = $1 LIMIT 1`,
      [namespace, digest],
    );
    return rows.length ? Number(rows[0].size) : undefined;
  }

  /** Whether a repository of the namespace already links the blob (so it adds nothing to the namespace). */
  async linkedInNamespace(namespace: string, digest: string, manager: EntityManager = this.dataSource.manager): Promise<boolean> {
    return (await this.linkedSizeInNamespace(namespace, digest, manager)) !== undefined;
  }
}

/** Both sums arrive as strings (bigint). */
export function usage(blobBytes: string | number, manifestBytes: string | number): StorageUsage {
  const blobs = Number(blobBytes);
  const manifests = Number(manifestBytes);
  return { blobBytes: blobs, manifestBytes: manifests, totalBytes: blobs + manifests };
}
