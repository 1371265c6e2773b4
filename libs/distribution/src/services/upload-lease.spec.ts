import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dataSourceOptions } from '@berth/database';
import { TestDatabase, postgresAvailable } from '../../../../test/support/database.js';
import { UploadStore } from './upload.store.js';
import { UploadLease } from './upload-lease.js';

const available = await postgresAvailable();
if (!available) console.warn('[upload lease] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL');

describe.skipIf(!available)('UploadLease (on PostgreSQL)', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let store: UploadStore;

  beforeAll(async () => {
    db = await TestDatabase.create('berth_lease');
    dataSource = new DataSource(dataSourceOptions({ url: db.url, poolSize: 4 }));
    await dataSource.initialize();
    await dataSource.runMigrations();
    store = new UploadStore(dataSource);
    await dataSource.query(`INSERT INTO repositories (name) VALUES ('team/app')`);
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  async function session(size = 0): Promise<string> {
    const id = randomUUID();
    await dataSource.query(`INSERT INTO uploads (id, repository_id, size) SELECT $1, id, $2 FROM repositories WHERE name = 'team/app'`, [id, size]);
    return id;
  }

  const row = async (id: string) =>
    (await db.query<{ size: string; writer: string | null; writer_until: Date | null }>('SELECT size, writer, writer_until FROM uploads WHERE id = $1', [id]))[0];

  it('is held by one request at a time; committing the size gives it up', async () => {
    const id = await session(5);
    const first = await UploadLease.claim(store, 'team/app', id);
    expect(first).toMatchObject({ size: 5 });
    expect(await UploadLease.claim(store, 'team/app', id)).toBeUndefined();
    expect(await first!.lease.commitSize(12)).toBe(true);
    expect(await row(id)).toMatchObject({ size: '12', writer: null, writer_until: null });
    const second = await UploadLease.claim(store, 'team/app', id);
    expect(second).toMatchObject({ size: 12 });
    await second!.lease.release();
    expect((await row(id)).writer).toBeNull();
  });

  it('is never granted for a session of another repository, nor for an unknown one', async () => {
    expect(await UploadLease.claim(store, 'team/other', await session())).toBeUndefined();
    expect(await UploadLease.claim(store, 'team/app', randomUUID())).toBeUndefined();
  });

  it('is renewed while the request runs, so it does not lapse', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const id = await session();
    const { lease } = (await UploadLease.claim(store, 'team/app', id))!;
    // Nearly lapsed; the renewal pushes it 30 s ahead again.
    await db.query(`UPDATE uploads SET writer_until = now() + interval '1 second' WHERE id = $1`, [id]);
    vi.advanceTimersByTime(10_000);
    await vi.waitFor(async () => expect((await row(id)).writer_until!.getTime()).toBeGreaterThan(Date.now() + 20_000));
    expect(await UploadLease.claim(store, 'team/app', id)).toBeUndefined();
    await lease.release();
  });

  it('lapses when its process stops renewing it; the next request takes it and the first is told it lost it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const id = await session();
    const { lease } = (await UploadLease.claim(store, 'team/app', id))!;
    const lost = vi.fn();
    lease.onLost(lost);
    await db.query(`UPDATE uploads SET writer_until = now() - interval '1 second' WHERE id = $1`, [id]);
    const next = await UploadLease.claim(store, 'team/app', id);
    expect(next).toBeDefined();
    vi.advanceTimersByTime(10_000);
    await vi.waitFor(() => expect(lost).toHaveBeenCalledTimes(1));
    expect(await lease.commitSize(99)).toBe(false);
    expect((await row(id)).size).toBe('0');
    await next!.lease.release();
  });
});
