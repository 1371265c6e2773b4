import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { type Readable, pipeline } from 'node:stream';
import { DataSource } from 'typeorm';
import { Digester, type DigestAlgorithm, RegistryError, assertRepositoryName, parseDigest } from '@berth/core';
import { PathNotFoundError, STORAGE_DRIVER, type StorageDriver, blobDataPath, uploadDataPath, uploadDir } from '@berth/storage';
import { HashingStream } from './hashing-stream.js';
import { KeyedLock } from './keyed-lock.js';
import type { EventContext } from '@berth/notifications';
import { lockBlobDigest } from './blob-lock.js';
import { QuotaService } from './quota.service.js';
import { RegistryEvents } from './registry-events.js';
import { RepositoryService } from './repository.service.js';
import { UploadHashes } from './upload-hashes.js';
import { UploadLease } from './upload-lease.js';

export interface UploadState {
  id: string;
  name: string;
  repositoryId: number;
  /** Bytes received so far. */
  size: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Upload sessions: bytes stream into a staging file in storage while being hashed;
 * the session's size lives in Postgres, so any process can continue it. Completing
 * moves the staging file to the content-addressed path and links the blob.
 */
@Injectable()
export class UploadService {
  private readonly hashes = new UploadHashes();
  /** Requests for one session in this process wait their turn; across processes, the row's claim (UploadLease) refuses them. */
  private readonly locks = new KeyedLock();

  constructor(
    private readonly dataSource: DataSource,
    private readonly repositories: RepositoryService,
    private readonly events: RegistryEvents,
    private readonly quotas: QuotaService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  async start(name: string): Promise<UploadState> {
    await this.quotas.refuseWhenFull(name);
    const repositoryId = await this.repositories.ensureId(name);
    const id = randomUUID();
    await this.dataSource.query('INSERT INTO uploads (id, repository_id, size) VALUES ($1, $2, 0)', [id, repositoryId]);
    return { id, name, repositoryId, size: 0 };
  }

  /**
   * A whole blob in one request (`POST ?digest=` with the body): streamed to a
   * staging file and checked like a session, but with no session row to write.
   * On any failure the staging file is removed, so nothing is left behind.
   */
  async uploadWhole(name: string, expectedDigest: string, body: Readable, context: EventContext): Promise<string> {
    let digest: string;
    let algorithm: DigestAlgorithm;
    try {
      ({ digest, algorithm } = parseDigest(expectedDigest));
      await this.quotas.refuseWhenFull(name);
    } catch (err) {
      body.resume();
      throw err;
    }
    const repositoryId = await this.repositories.ensureId(name);
    const stagingId = randomUUID();
    const digester = new Digester(algorithm);
    try {
      const writer = await this.storage.writer(uploadDataPath(stagingId), 0);
      await writer.write(pipeline(body, new HashingStream(digester), () => undefined));
      await writer.commit();
      const actual = digester.peek();
      if (actual !== digest) {
        throw new RegistryError('DIGEST_INVALID', `digest ${digest} does not match the uploaded content (${actual})`, {
          expected: digest,
          actual,
        });
      }
      await this.storeBlob({ id: stagingId, name, repositoryId, size: digester.size }, digest, context);
      return digest;
    } catch (err) {
      await this.storage.delete(uploadDir(stagingId));
      throw err;
    }
  }

  async get(name: string, id: string): Promise<UploadState> {
    assertRepositoryName(name);
    const unknown = () => new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} unknown`, { uuid: id.slice(0, 64) });
    if (!UUID.test(id)) throw unknown();
    const rows: { repository_id: string; size: string }[] = await this.dataSource.query(
      `SELECT u.repository_id, u.size FROM uploads u JOIN repositories r ON r.id = u.repository_id
        WHERE u.id = $1 AND r.name = $2`,
      [id, name],
    );
    if (!rows.length) throw unknown();
    return { id, name, repositoryId: Number(rows[0].repository_id), size: Number(rows[0].size) };
  }

  /**
   * Appends a request body. With a Content-Range, it must start where the session
   * ends (else 416) and its length must match what arrived. A body that fails half-way
   * is not counted: the next write starts again from the recorded size.
   */
  async append(name: string, id: string, body: Readable, range?: { start: number; end: number }): Promise<UploadState> {
    return this.locks.run(id, () =>
      this.claimed(name, id, body, async (upload, lease) => {
        const { size, digester } = await this.write(upload, lease, body, range);
        if (!(await lease.commitSize(size))) {
          throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload was changed by a concurrent request', { uuid: id });
        }
        if (digester) this.hashes.keep(id, digester);
        return { ...upload, size };
      }),
    );
  }

  /**
   * Finishes the session: appends the optional last chunk, checks the digest, then
   * stores the blob once and links it. A wrong digest discards the session: nothing
   * of it becomes visible. The session stays claimed throughout, so no chunk sent to
   * another replica meanwhile slips in between the hash and the move.
   */
  async complete(
    name: string,
    id: string,
    expectedDigest: string | undefined,
    context: EventContext,
    lastChunk?: { body: Readable; range?: { start: number; end: number } },
  ): Promise<string> {
    let digest: string;
    let algorithm: DigestAlgorithm;
    try {
      ({ digest, algorithm } = parseDigest(expectedDigest));
    } catch (err) {
      lastChunk?.body.resume();
      throw err;
    }
    return this.locks.run(id, () =>
      this.claimed(name, id, lastChunk?.body, async (claimed, lease) => {
        let upload = claimed;
        if (lastChunk) {
          // Not recorded as the session's size: the session ends here, or the chunk counts for nothing.
          const { size, digester } = await this.write(claimed, lease, lastChunk.body, lastChunk.range);
          if (digester) this.hashes.keep(id, digester);
          upload = { ...claimed, size };
        }
        const actual = await this.digestOf(upload, algorithm, digest);
        if (actual !== digest) {
          lease.end();
          await this.discard(id);
          throw new RegistryError('DIGEST_INVALID', `digest ${digest} does not match the uploaded content (${actual})`, {
            expected: digest,
            actual,
          });
        }
        try {
          await this.storeBlob(upload, digest, context);
          lease.end();
        } catch (err) {
          // Over quota, like a wrong digest, the session goes: nothing of it stays behind.
          if (err instanceof RegistryError && err.code === 'DENIED') {
            lease.end();
            await this.discard(id);
          }
          throw err;
        }
        return digest;
      }),
    );
  }

  async cancel(name: string, id: string): Promise<void> {
    await this.get(name, id);
    await this.discard(id);
  }

  /**
   * Runs `task` with the session claimed for this request (see UploadLease), then gives
   * the claim up. Another request holding it, on any replica, makes this one answer
   * like an out-of-order chunk: 416 with the committed range.
   */
  private async claimed<T>(name: string, id: string, body: Readable | undefined, task: (upload: UploadState, lease: UploadLease) => Promise<T>): Promise<T> {
    let claim: Awaited<ReturnType<typeof UploadLease.claim>>;
    try {
      assertRepositoryName(name);
      claim = UUID.test(id) ? await UploadLease.claim(this.dataSource, name, id) : undefined;
      if (!claim) {
        const { size } = await this.get(name, id);
        throw new RegistryError(
          'RANGE_INVALID',
          'another request is writing to this upload',
          { size },
          { Range: `0-${Math.max(size - 1, 0)}`, 'Docker-Upload-UUID': id },
        );
      }
    } catch (err) {
      body?.resume();
      throw err;
    }
    const { lease, repositoryId, size } = claim;
    try {
      return await task({ id, name, repositoryId, size }, lease);
    } finally {
      await lease.release();
    }
  }

  /** Streams `body` into the staged bytes after the session's `size`; the new size and running hash (when there is one). */
  private async write(
    upload: UploadState,
    lease: UploadLease,
    body: Readable,
    range?: { start: number; end: number },
  ): Promise<{ size: number; digester?: Digester }> {
    const { id } = upload;
    if (range && range.start !== upload.size) {
      body.resume();
      throw new RegistryError(
        'RANGE_INVALID',
        `chunk starts at ${range.start}, but ${upload.size} bytes were received so far`,
        { size: upload.size },
        { Range: `0-${Math.max(upload.size - 1, 0)}`, 'Docker-Upload-UUID': id },
      );
    }
    // Resumed from elsewhere, there is no running hash: count only, re-hash at the end.
    const digester = this.hashes.take(id, upload.size);
    const counter = new HashingStream(digester);
    const writer = await this.storage.writer(uploadDataPath(id), upload.size);
    lease.onLost(() => body.destroy(new RegistryError('BLOB_UPLOAD_INVALID', 'the upload was taken over by another request', { uuid: id })));
    await writer.write(pipeline(body, counter, () => undefined));
    const written = counter.written;
    if (range && written !== range.end - range.start + 1) {
      throw new RegistryError('RANGE_INVALID', `Content-Range announced ${range.end - range.start + 1} bytes, received ${written}`, {
        size: upload.size,
      });
    }
    await writer.commit();
    return { size: upload.size + written, digester };
  }

  private async digestOf(upload: UploadState, algorithm: DigestAlgorithm, expected: string): Promise<string> {
    const running = algorithm === 'sha256' ? this.hashes.take(upload.id, upload.size) : undefined;
    if (running) return running.peek();
    if (upload.size === 0) return new Digester(algorithm).peek();
    // Resumed elsewhere (or sha512): one streaming pass over the staged bytes. A completion
    // cut off after its move (a crash, a failed commit) left them at the blob's path: the
    // retry hashes them there, which checks them as well.
    const bytes = await this.storage.reader(uploadDataPath(upload.id), 0, upload.size).catch((err: Error) => {
      if (err instanceof PathNotFoundError) return this.storage.reader(blobDataPath(expected), 0, upload.size);
      throw err;
    });
    const digester = new Digester(algorithm);
    for await (const chunk of bytes) {
      digester.update(chunk as Buffer);
    }
    return digester.peek();
  }

  /**
   * Moves the staged bytes to the blob's content-addressed path (unless storage already
   * holds them: asking storage, not the database, lets a re-push heal a lost file) and
   * links the blob, closing the session, in one statement. The namespace's quota is
   * checked first, so a refused blob never reaches its content-addressed path. The
   * digest's lock is held from the storage check to the commit, so garbage collection
   * cannot delete the file in between; re-linking refreshes the link's `seen_at`, which
   * keeps it from GC for the review delay while the manifest that uses it is on its way.
   */
  private async storeBlob(staged: UploadState, digest: string, context: EventContext): Promise<void> {
    const { id, name, repositoryId, size } = staged;
    await this.quotas.commit(context, name, { kind: 'blob', bytes: size, digest }, async (manager) => {
      await lockBlobDigest(manager, digest);
      if ((await this.storage.stat(blobDataPath(digest)))?.size !== size) {
        if (size === 0) await (await this.storage.writer(uploadDataPath(id), 0)).commit();
        // Concurrent completions of one digest all rename identical bytes onto one path: safe.
        await this.storage.move(uploadDataPath(id), blobDataPath(digest));
      }
      await manager.query(
        `WITH blob AS (INSERT INTO blobs (digest, size) VALUES ($1, $2) ON CONFLICT DO NOTHING),
              link AS (INSERT INTO repository_blobs (repository_id, digest) VALUES ($3, $1)
                       ON CONFLICT (repository_id, digest) DO UPDATE SET seen_at = now())
         DELETE FROM uploads WHERE id = $4`,
        [digest, size, repositoryId, id],
      );
      return { result: undefined, events: [{ action: 'push', target: this.events.blobTarget(context, name, digest, size) }] };
    });
    this.hashes.forget(id);
    await this.storage.delete(uploadDir(id));
  }

  private async discard(id: string): Promise<void> {
    this.hashes.forget(id);
    await this.dataSource.query('DELETE FROM uploads WHERE id = $1', [id]);
    await this.storage.delete(uploadDir(id));
  }
}
