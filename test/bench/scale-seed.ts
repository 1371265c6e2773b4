/**
 * Straight-SQL seeding of a large registry for the scale figures (`npm run bench -- scale`):
 * namespaces, repositories in them, OCI manifests with their exact bytes and digests, their
 * references, the blobs and each repository's links, and tags, all consistent with each
 * other, so the server answers from them as from pushed content. No files: the figures read
 * metadata only. Seeding only: foreign-key triggers are off for the session and secondary
 * indexes are rebuilt once at the end instead of row by row.
 *
 * With the triggers off, GC's review queues (migration 1765000000080) stay empty: the
 * seeded registry stands for one in steady state, whose past changes earlier collections
 * have reviewed. Only the few unreferenced links and blobs seeded last are queued, as
 * their deletion would have queued them, so the dry run finds something.
 */
import type pg from 'pg';

export interface SeedShape {
  namespaces: number;
  /** Repositories besides the big one. */
  repositories: number;
  /** Manifests per repository besides the big one (every tenth is untagged). */
  manifestsPerRepository: number;
  /** Tags (each its own manifest) in the big repository, counting the `existingTags` already there. */
  bigRepositoryTags: number;
  /** Tags the big repository already holds (t-000001 …), which the seeded ones follow. */
  existingTags: number;
  /** Blobs linked in one seeded repository each (at most one per repository) that no manifest references. */
  unreferenced: number;
}

/** The registry: 10,000 repositories, 1,000,000 manifests, 5,000,000 blob links, 200,000 tags in one repository. */
export function seedShape(factor: number): SeedShape {
  return {
    namespaces: 100,
    repositories: Math.round(9_999 * factor),
    manifestsPerRepository: 80,
    bigRepositoryTags: Math.round(200_000 * factor),
    existingTags: 200,
    unreferenced: 100,
  };
}

/** Each manifest: a config and four layers of its own, and one of ten base layers shared in its namespace. */
const LAYERS_OWN = 4;

/*
 * A seeded reference's digest and size as SQL expressions of its manifest's number `k`,
 * namespace `ns` and position `p` (0 the config, 1-4 its own layers, 5 the shared base
 * layer), so every statement agrees. Spelled out rather than SQL functions, which
 * Postgres would not inline here and which cost a millisecond per manifest.
 */
const refDigest = (k: string, ns: string, p: string) =>
  `'sha256:' || encode(sha256(convert_to(CASE WHEN ${p} = 5 THEN 'base-' || ${ns} || '-' || ${k} % 10 ELSE 'blob-' || ${k} || '-' || ${p} END, 'UTF8')), 'hex')`;
const refSize = (k: string, p: string) => `CASE WHEN ${p} = 5 THEN 30000000 + ${k} % 10 ELSE 1000 + (${k} * 7919 + ${p} * 104729) % 20000000 END`;
const layer = (p: number) =>
  `format('{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}', ${refDigest('k', 'ns', String(p))}, ${refSize('k', String(p))})`;

/** Tags in the big repository: t-000001, … (sorted as numbers too). */
export const bigTag = (n: number) => `t-${String(n).padStart(6, '0')}`;
/** Seeded repositories: ns07/repo-00042. */
export const seededRepository = (i: number, namespaces: number) => `ns${String(i % namespaces).padStart(2, '0')}/repo-${String(i).padStart(5, '0')}`;

const SEEDED_TABLES = ['repositories', 'manifests', 'manifest_references', 'blobs', 'repository_blobs', 'tags'];

export interface SeedCounts {
  repositories: number;
  manifests: number;
  references: number;
  blobs: number;
  links: number;
  tags: number;
}

/**
 * Seeds into the database `client` is connected to; `bigRepository` (with `existingTags`
 * tags) gets the rest of its tags. Returns the row counts afterwards.
 */
export async function seedRegistry(connect: () => Promise<pg.Client>, shape: SeedShape, bigRepository: string, log: (line: string) => void): Promise<SeedCounts> {
  // Two sessions: the large inserts run in two lanes, one per core.
  const [client, second] = [await connect(), await connect()];
  try {
    for (const c of [client, second]) await c.query(SEED_SESSION);
    return await seed(client, second, shape, bigRepository, log);
  } finally {
    await Promise.all([client, second].map((c) => c.end().catch(() => undefined)));
  }
}

/** Seeding only: no foreign-key triggers, no waiting for the WAL flush, room for sorts and index builds. */
const SEED_SESSION = `SET session_replication_role = replica; SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; SET work_mem = '256MB'`;

async function seed(client: pg.Client, second: pg.Client, shape: SeedShape, bigRepository: string, log: (line: string) => void): Promise<SeedCounts> {
  const stepOn = (on: pg.Client) => async (label: string, sql: string, params: unknown[] = []) => {
    const started = performance.now();
    const result = await on.query(sql, params);
    log(`${label}: ${result.rowCount ?? 0} rows, ${((performance.now() - started) / 1000).toFixed(1)}s`);
  };
  const step = stepOn(client);
  const step2 = stepOn(second);
  const indexes: { indexdef: string; indexname: string }[] = (
    await client.query(
      `SELECT indexname, indexdef FROM pg_indexes i
        WHERE schemaname = 'public' AND tablename = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
      [SEEDED_TABLES],
    )
  ).rows;
  for (const { indexname } of indexes) await client.query(`DROP INDEX ${indexname}`);

  await step(
    'namespaces',
    `INSERT INTO namespaces (name, kind) SELECT format('ns%s', lpad(i::text, 2, '0')), 'organization' FROM generate_series(0, $1 - 1) i ON CONFLICT (name) DO NOTHING`,
    [shape.namespaces],
  );
  await step(
    'repositories',
    `INSERT INTO repositories (name) SELECT format('ns%s/repo-%s', lpad((i % $2)::text, 2, '0'), lpad(i::text, 5, '0')) FROM generate_series(1, $1) i`,
    [shape.repositories, shape.namespaces],
  );
  const [{ id: bigId }] = (await client.query(`SELECT id FROM repositories WHERE name = $1`, [bigRepository])).rows;
  const [{ base }] = (await client.query(`SELECT coalesce(max(id), 0) + 1 AS base FROM manifests`)).rows;

  // One row per seeded manifest: its number k (its id is base + k), repository, namespace, tag.
  await step(
    'plan manifests',
    `CREATE UNLOGGED TABLE seed_m AS
       SELECT k::bigint, $1::bigint AS repository_id, split_part($2, '/', 1) AS ns, format('t-%s', lpad(k::text, 6, '0')) AS tag
         FROM generate_series($3 + 1, $4) k
       UNION ALL
       SELECT $4 + r.idx * $5 + j, r.id, r.namespace, CASE WHEN j % 10 <> 0 THEN 'v' || j END
         FROM (SELECT id, namespace, row_number() OVER (ORDER BY id) - 1 AS idx FROM repositories WHERE name ~ '^ns[0-9]+/repo-') r
        CROSS JOIN generate_series(1, $5) j`,
    [bigId, bigRepository, shape.existingTags, shape.bigRepositoryTags, shape.manifestsPerRepository],
  );
  await step(
    'plan references',
    `CREATE UNLOGGED TABLE seed_ref AS
       SELECT m.k, m.repository_id, p, ${refDigest('m.k', 'm.ns', 'p')} AS digest, ${refSize('m.k', 'p')} AS size
         FROM seed_m m CROSS JOIN generate_series(0, ${LAYERS_OWN + 1}) p`,
  );
  await Promise.all([
    (async () => {
      await step(
        'manifests',
        `INSERT INTO manifests (id, repository_id, digest, media_type, size, content, created_at, seen_at)
         SELECT $1 + k, repository_id, 'sha256:' || encode(sha256(content), 'hex'), 'application/vnd.oci.image.manifest.v1+json',
                length(content), content, now() - interval '30 days', now() - interval '30 days'
           FROM (SELECT k, repository_id, convert_to(format(
                   '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s,%s,%s,%s,%s]}',
                   ${refDigest('k', 'ns', '0')}, ${refSize('k', '0')}, ${[5, 1, 2, 3, 4].map(layer).join(', ')}), 'UTF8') AS content
                   FROM seed_m) x`,
        [base],
      );
      await client.query(`SELECT setval('manifests_id_seq', (SELECT max(id) FROM manifests))`);
      await step(
        'tags',
        `INSERT INTO tags (repository_id, name, manifest_id) SELECT repository_id, tag, $1 + k FROM seed_m WHERE tag IS NOT NULL ORDER BY repository_id, tag`,
        [base],
      );
    })(),
    (async () => {
      await step2(
        'manifest references',
        `INSERT INTO manifest_references (manifest_id, digest, kind, size) SELECT $1 + k, digest, 'blob', size FROM seed_ref ORDER BY k, digest`,
        [base],
      );
      await step2(
        'blobs',
        `INSERT INTO blobs (digest, size, created_at)
         SELECT digest, size, now() - interval '30 days' FROM (SELECT digest, size FROM seed_ref WHERE p < 5 UNION ALL SELECT DISTINCT digest, size FROM seed_ref WHERE p = 5) b
          ORDER BY digest`,
      );
      await step2(
        'repository blob links',
        `INSERT INTO repository_blobs (repository_id, digest, created_at, seen_at)
         SELECT repository_id, digest, now() - interval '30 days', now() - interval '30 days'
           FROM (SELECT repository_id, digest FROM seed_ref WHERE p < 5 UNION ALL SELECT DISTINCT repository_id, digest FROM seed_ref WHERE p = 5) l
          ORDER BY repository_id, digest`,
      );
    })(),
  ]);
  // The secondary indexes, built once, in the two lanes.
  await Promise.all(
    [step, step2].map(async (run, lane) => {
      for (const { indexname, indexdef } of indexes.filter((_, i) => i % 2 === lane)) await run(`index ${indexname}`, indexdef);
    }),
  );
  await step(
    'unreferenced blobs and links (queued for review)',
    `WITH g AS (SELECT i, 'sha256:' || encode(sha256(convert_to('unreferenced-' || i, 'UTF8')), 'hex') AS digest FROM generate_series(1, $1) i),
          r AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM repositories WHERE name ~ '^ns[0-9]+/repo-'),
          b AS (INSERT INTO blobs (digest, size, created_at) SELECT digest, 1000 + i, now() - interval '30 days' FROM g JOIN r USING (i)),
          l AS (INSERT INTO repository_blobs (repository_id, digest, created_at, seen_at)
                SELECT r.id, g.digest, now() - interval '30 days', now() - interval '30 days' FROM g JOIN r USING (i) RETURNING repository_id, digest),
          q AS (INSERT INTO gc_link_reviews (repository_id, digest) SELECT repository_id, digest FROM l)
     INSERT INTO gc_blob_reviews (digest) SELECT digest FROM l`,
    [shape.unreferenced],
  );
  await client.query(`DROP TABLE seed_ref, seed_m`);
  await client.query(`RESET session_replication_role`);
  // A registry of this size has been vacuumed and analysed by autovacuum long since.
  for (const table of SEEDED_TABLES) await step(`vacuum analyze ${table}`, `VACUUM (ANALYZE) ${table}`);

  const counts = (
    await client.query(
      `SELECT (SELECT count(*) FROM repositories)::int AS repositories, (SELECT count(*) FROM manifests)::int AS manifests,
              (SELECT count(*) FROM manifest_references)::int AS "references", (SELECT count(*) FROM blobs)::int AS blobs,
              (SELECT count(*) FROM repository_blobs)::int AS links, (SELECT count(*) FROM tags)::int AS tags`,
    )
  ).rows[0] as SeedCounts;
  return counts;
}
