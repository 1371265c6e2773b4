import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { type Readable, pipeline } from 'node:stream';
import { DataSource } from 'typeorm';
import { namespaceOf } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { Digester, type DigestAlgorithm, RegistryError, assertRepositoryName, parseDigest } from '@berth/core';
import {
  FileTooLargeError,
  PathNotFoundError,
  STORAGE_DRIVER,
  type StorageDriver,
  blobDataPath,
  uploadDataPath,
  uploadDir,
} from '@berth/storage';
import { type ClaimedUpload, UploadStore } from './upload.store.js';
import { ByteLimit } from './byte-limit.js';
import { formatBytes } from './byte-size.js';
import { HashingStream } from './hashing-stream.js';
import { KeyedLock } from './keyed-lock.js';
import type { EventContext } from '@berth/notifications';
import { type Allowance, QuotaService } from './quota.service.js';
import { RegistryEvents } from './registry-events.js';
import { type NamespaceCreator, RepositoryService } from './repository.service.js';
import { UploadHashes } from './upload-hashes.js';
import { UploadLease } from './upload-lease.js';

export interface UploadState {
  id: string;
  name: string;
  repositoryId: number;
  /** Bytes received so far. */
  size: number;
}

/** A session as the request that claimed it sees it. */
type ClaimedSession = UploadState & ClaimedUpload;

/** A chunk's bytes as announced: Content-Range (checked against the session) and Content-Length. */
export interface Chunk {
  body: Readable;
  range?: { start: number; end: number };
  length?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A client told to wait for a free session place may try again after this long. */
const SESSIONS_RETRY_AFTER_SECONDS = 60;

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
    private readonly store: UploadStore,
    private readonly config: BerthConfig,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
  ) {}

  /**
   * Opens a session for `account` (an identity's kind and id), unless the namespace is
   * full, or the account or the namespace already has the most sessions open allowed.
   */
  async start(name: string, account: string, createNamespace?: NamespaceCreator): Promise<UploadState> {
    const target = await this.repositories.pushTarget(name, createNamespace);
    await this.quotas.refuseWhenFull(name, target?.quota);
    const repositoryId = target?.repositoryId ?? (await this.repositories.ensureId(name));
    const id = randomUUID();
    const namespace = namespaceOf(name);
    const { maxSessionsPerAccount: perAccount, maxSessionsPerNamespace: perNamespace } = this.config.uploads;
    const opened = await this.store.open({ id, repositoryId, namespace, account }, { perAccount, perNamespace });
    if (!opened.opened) {
      const message =
        opened.accountSessions >= perAccount
          ? `this account has ${perAccount} upload sessions open, the most allowed: finish or cancel one first`
          : `namespace "${namespace}" has ${perNamespace} upload sessions open, the most allowed: finish or cancel one first`;
      throw new RegistryError('TOOMANYREQUESTS', message, { limit: opened.accountSessions >= perAccount ? perAccount : perNamespace }, {
        'Retry-After': String(SESSIONS_RETRY_AFTER_SECONDS),
      });
    }
    return { id, name, repositoryId, size: 0 };
  }

  /**
   * A whole blob in one request (`POST ?digest=` with the body): streamed to a
   * staging file and checked like a session, but with no session row to write.
   * On any failure the staging file is removed, so nothing is left behind.
   */
  async uploadWhole(
    name: string,
    expectedDigest: string,
    body: Readable,
    context: EventContext,
    length?: number,
    createNamespace?: NamespaceCreator,
  ): Promise<string> {
    let digest: string;
    let algorithm: DigestAlgorithm;
    let limit: ByteLimit | undefined;
    let repositoryId: number;
    try {
      ({ digest, algorithm } = parseDigest(expectedDigest));
      const target = await this.repositories.pushTarget(name, createNamespace);
      limit = await this.limiter(await this.unlessHeld(name, digest, await this.quotas.refuseWhenFull(name, target?.quota, digest), 0), 0, length);
      repositoryId = target?.repositoryId ?? (await this.repositories.ensureId(name));
    } catch (err) {
      body.resume();
      throw err;
    }
    const stagingId = randomUUID();
    const digester = new Digester(algorithm);
    try {
      const writer = await this.storage.writer(uploadDataPath(stagingId), 0);
      await writer.write(this.piped(body, limit, new HashingStream(digester))).catch(tooLarge);
      await writer.commit();
      const actual = digester.peek();
      if (actual !== digest) {
        throw new RegistryError('DIGEST_INVALID', `digest ${digest} does not match the uploaded content (${actual})`, {
          expected: digest,
          actual,
        });
      }
      await this.storeBlob({ id: stagingId, name, repositoryId, size: digester.size }, digest, context, false);
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
    const found = await this.store.find(name, id);
    if (!found) throw unknown();
    return { id, name, ...found };
  }

  /**
   * Appends a request body. With a Content-Range, it must start where the session
   * ends (else 416) and its length must match what arrived. A body that fails half-way
   * is not counted, and its stored part is dropped: the session keeps its recorded size. A
   * chunk that would take the namespace past its quota ends the session, as at completion.
   */
  async append(name: string, id: string, chunk: Chunk): Promise<UploadState> {
    return this.locks.run(id, () =>
      this.claimed(name, id, chunk.body, async (upload, lease) => {
        if (upload.digest !== null) {
          chunk.body.resume();
          throw new RegistryError('BLOB_UPLOAD_INVALID', `this upload is being completed as ${upload.digest}: only PUT ?digest=${upload.digest} can finish it`, {
            uuid: id,
          });
        }
        const { size, digester } = await this.refusalEnds(upload, lease, async () => {
          const written = await this.write(upload, lease, chunk);
          const committed = await (upload.quotaBytes === null
            ? lease.commitSize(written.size)
            : this.dataSource.transaction(async (manager) => {
                await this.quotas.admitStaged(manager, upload.namespace, id, written.size);
                return lease.commitSize(written.size, manager);
              }));
          if (!committed) throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload was changed by a concurrent request', { uuid: id });
          return written;
        });
        if (digester) this.hashes.keep(id, digester);
        return { id, name, repositoryId: upload.repositoryId, size };
      }),
    );
  }

  /**
   * Finishes the session: appends the optional last chunk, checks the digest, then
   * stores the blob once and links it. A wrong digest discards the session: nothing
   * of it becomes visible. The session stays claimed throughout, so no chunk sent to
   * another replica meanwhile slips in between the hash and the move. The digest is
   * recorded on the session before its bytes move: a completion cut off after that is
   * finished by a retry naming the same digest (its bytes are checked wherever they
   * are), and refused for any other, so a session only ever becomes the blob it received.
   */
  async complete(name: string, id: string, expectedDigest: string | undefined, context: EventContext, lastChunk?: Chunk): Promise<string> {
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
        let upload: ClaimedSession = claimed;
        const recorded = claimed.digest;
        if (recorded !== null) {
          // Its bytes are complete (and may already be at the blob's address): no more join them.
          lastChunk?.body.resume();
          if (recorded !== digest) {
            throw new RegistryError('DIGEST_INVALID', `this upload's content is ${recorded}, not ${digest}: only PUT ?digest=${recorded} can finish it`, {
              expected: digest,
              actual: recorded,
            });
          }
        } else if (lastChunk) {
          // Not recorded as the session's size: the session ends here, or the chunk counts for nothing.
          const { size, digester } = await this.refusalEnds(claimed, lease, () => this.write(claimed, lease, lastChunk, digest));
          if (digester) this.hashes.keep(id, digester);
          upload = { ...claimed, size };
        }
        const actual = await this.digestOf(upload, algorithm, recorded !== null, lease);
        if (actual !== digest) {
          lease.end();
          await this.discard(id);
          throw new RegistryError('DIGEST_INVALID', `digest ${digest} does not match the uploaded content (${actual})`, {
            expected: digest,
            actual,
          });
        }
        try {
          if (recorded === null) await this.recordTarget(upload, lease, digest);
          await this.storeBlob(upload, digest, context, true);
          lease.end();
        } catch (err) {
          // Over quota, like a wrong digest, the session goes: nothing of it stays behind (nor of one whose repository went).
          if (err instanceof RegistryError && (err.code === 'DENIED' || err.code === 'BLOB_UPLOAD_UNKNOWN')) {
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
  private async claimed<T>(name: string, id: string, body: Readable | undefined, task: (upload: ClaimedSession, lease: UploadLease) => Promise<T>): Promise<T> {
    let claim: Awaited<ReturnType<typeof UploadLease.claim>>;
    try {
      assertRepositoryName(name);
      claim = UUID.test(id) ? await UploadLease.claim(this.store, name, id) : undefined;
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
    const { lease, ...upload } = claim;
    try {
      return await task({ id, name, ...upload }, lease);
    } finally {
      await lease.release();
    }
  }

  /**
   * Records the digest the session's bytes were verified to be, before they move. Its
   * bytes count as staged from here to the commit that links them, so the namespace's
   * quota admits them here, under its lock: of two completions racing for the last bytes,
   * the first to record wins (a later check would find each counting the other).
   */
  private async recordTarget(upload: ClaimedSession, lease: UploadLease, digest: string): Promise<void> {
    const recorded = await (upload.quotaBytes === null
      ? lease.recordTarget(digest, upload.size)
      : this.dataSource.transaction(async (manager) => {
          await this.quotas.admitStaged(manager, upload.namespace, upload.id, upload.size, digest);
          return lease.recordTarget(digest, upload.size, manager);
        }));
    if (!recorded) throw new RegistryError('BLOB_UPLOAD_INVALID', 'the upload was taken over by another request', { uuid: upload.id });
  }

  /**
   * Runs `task`; when it is refused for the namespace's quota, the session goes with
   * its staged bytes (a session left holding them would keep the namespace full), as
   * when its last chunk passes the size of the blob it is to be (it can no longer match).
   */
  private async refusalEnds<T>(upload: ClaimedSession, lease: UploadLease, task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (err) {
      if (err instanceof RegistryError && (err.code === 'DENIED' || err.code === 'DIGEST_INVALID')) {
        lease.end();
        await this.discard(upload.id);
      }
      throw err;
    }
  }

  /**
   * Streams a chunk into the staged bytes after the session's `size`, no further than the
   * namespace's quota and the storage allow (refused up front when its announced length
   * passes them); the new size and running hash (when there is one). A chunk that fails
   * leaves no byte past `size`: counted by no quota, they would wait for the purge.
   */
  private async write(
    upload: ClaimedSession,
    lease: UploadLease,
    { body, range, length }: Chunk,
    digest?: string,
  ): Promise<{ size: number; digester?: Digester }> {
    const { id } = upload;
    let limit: ByteLimit | undefined;
    try {
      if (range && range.start !== upload.size) {
        throw new RegistryError(
          'RANGE_INVALID',
          `chunk starts at ${range.start}, but ${upload.size} bytes were received so far`,
          { size: upload.size },
          { Range: `0-${Math.max(upload.size - 1, 0)}`, 'Docker-Upload-UUID': id },
        );
      }
      const allowance = await this.quotas.allowance(upload, digest);
      limit = await this.limiter(
        digest ? await this.unlessHeld(upload.name, digest, allowance, upload.size) : allowance,
        upload.size,
        range ? range.end - range.start + 1 : length,
      );
    } catch (err) {
      body.resume();
      throw err;
    }
    // Resumed from elsewhere, there is no running hash: count only, re-hash at the end.
    const digester = this.hashes.take(id, upload.size);
    const counter = new HashingStream(digester);
    const writer = await this.storage.writer(uploadDataPath(id), upload.size).catch(async (err: Error) => {
      if (!(err instanceof PathNotFoundError)) throw err;
      body.resume();
      throw await this.dead(upload, lease);
    });
    let lost = false;
    lease.onLost(() => {
      lost = true;
      body.destroy(new RegistryError('BLOB_UPLOAD_INVALID', 'the upload was taken over by another request', { uuid: id }));
    });
    try {
      await writer.write(this.piped(body, limit, counter)).catch(tooLarge);
      if (range && counter.written !== range.end - range.start + 1) {
        throw new RegistryError('RANGE_INVALID', `Content-Range announced ${range.end - range.start + 1} bytes, received ${counter.written}`, {
          size: upload.size,
        });
      }
      await writer.commit();
    } catch (err) {
      // Opening a writer at the recorded size drops the tail (should that fail, the purge does).
      // Not once the claim is lost: the bytes past it are another request's.
      if (!lost) await this.storage.writer(uploadDataPath(id), upload.size).catch(() => undefined);
      throw err;
    }
    return { size: upload.size + counter.written, digester };
  }

  /**
   * What may join `size` staged bytes: nothing past the namespace's quota (`allowance`)
   * nor past the most a file in storage may hold. An announced `length` that passes
   * either is refused before any byte is read; a body that turns out longer is cut off
   * where it passes them, and refused at its end.
   */
  private async limiter(allowance: Allowance | undefined, size: number, length: number | undefined): Promise<ByteLimit | undefined> {
    const max = this.storage.maxFileSize;
    const room = max === undefined ? Infinity : max - size;
    const refusal = (bytes: number) =>
      bytes > room
        ? new RegistryError('BLOB_TOO_LARGE', `the storage holds at most ${formatBytes(max!)} per blob: this chunk would take the upload past it`, {
            maxBytes: max,
            size,
          })
        : allowance!.refusal(size + bytes);
    if (!allowance && max === undefined) return undefined;
    let limit = Math.min(room, allowance?.limit ?? Infinity);
    if (length !== undefined && length > limit && allowance && length <= room) limit = Math.min(room, await allowance.raise());
    if (length !== undefined && length > limit) throw refusal(length);
    const raise = allowance && (async () => Math.min(room, await allowance.raise()));
    return new ByteLimit(limit, raise, refusal);
  }

  /**
   * For the bytes of a blob the namespace already links (they will count for nothing), no
   * quota limit, but none past the blob's size either: more bytes than it holds can never
   * match the digest, and would be staged bytes that no quota counts.
   */
  private async unlessHeld(name: string, digest: string, allowance: Allowance | undefined, size: number): Promise<Allowance | undefined> {
    const held = allowance && (await this.quotas.heldSize(name, digest));
    if (held === undefined) return allowance;
    const limit = held - size;
    return {
      limit,
      raise: async () => limit,
      refusal: (bytes) =>
        new RegistryError('DIGEST_INVALID', `blob ${digest} holds ${formatBytes(held)}: an upload of ${formatBytes(bytes)} cannot match it`, {
          digest,
          size: held,
        }),
    };
  }

  /** `body` through the limit (when there is one) into `last`. */
  private piped(body: Readable, limit: ByteLimit | undefined, last: HashingStream): HashingStream {
    return limit ? pipeline(body, limit, last, () => undefined) : pipeline(body, last, () => undefined);
  }

  /** A session whose staged bytes are gone (storage lost them): it cannot finish, so it goes. */
  private async dead(upload: UploadState, lease: UploadLease): Promise<RegistryError> {
    lease.end();
    await this.discard(upload.id);
    return new RegistryError('BLOB_UPLOAD_INVALID', 'the staged bytes of this upload are gone: start it again', { uuid: upload.id });
  }

  /**
   * The digest of the session's bytes. With `moved` (its digest was recorded before a
   * completion moved them, which was then cut off), the bytes may be at that blob's
   * address instead: they are hashed there, which checks them as well. Nowhere else.
   */
  private async digestOf(upload: ClaimedSession, algorithm: DigestAlgorithm, moved: boolean, lease: UploadLease): Promise<string> {
    const running = algorithm === 'sha256' && !moved ? this.hashes.take(upload.id, upload.size) : undefined;
    if (running) return running.peek();
    if (upload.size === 0) return new Digester(algorithm).peek();
    // Resumed elsewhere (or sha512): one streaming pass over the staged bytes.
    const read = (path: string) => this.storage.reader(path, 0, upload.size);
    const bytes = await read(uploadDataPath(upload.id))
      .catch((err: Error) => {
        if (err instanceof PathNotFoundError && moved) return read(blobDataPath(upload.digest!));
        throw err;
      })
      .catch(async (err: Error) => {
        if (err instanceof PathNotFoundError) throw await this.dead(upload, lease);
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
   * holds them: asking storage, not the database, lets a re-push heal a lost file, and
   * clears the mark `verify --repair` leaves on a blob whose bytes were missing or bad) and
   * links the blob, closing the session, in one statement. The namespace's quota is
   * checked first, so a refused blob never reaches its content-addressed path. The
   * digest's lock is held from the storage check to the commit, so garbage collection
   * cannot delete the file in between; re-linking refreshes the link's `seen_at`, which
   * keeps it from GC for the review delay while the manifest that uses it is on its way.
   */
  private async storeBlob(staged: UploadState, digest: string, context: EventContext, session: boolean): Promise<void> {
    const { id, name, repositoryId, size } = staged;
    await this.quotas.commit(context, name, { kind: 'blob', bytes: size, digest, session: session ? id : undefined }, async (manager) => {
      // The lock order of a manifest push: namespace (in the quota check), repository, digest.
      if (!(await this.store.lockForCompletion(manager, repositoryId, digest, session ? id : undefined))) {
        throw session
          ? new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} unknown: its repository was deleted`, { uuid: id })
          : new RegistryError('NAME_UNKNOWN', `repository ${name} was deleted during the upload`, { name });
      }
      if ((await this.storage.stat(blobDataPath(digest)))?.size !== size) {
        if (size === 0) await (await this.storage.writer(uploadDataPath(id), 0)).commit();
        // Concurrent completions of one digest all rename identical bytes onto one path: safe.
        // Only the `size` bytes that were hashed move: a cut-off body may have left more.
        await this.storage.move(uploadDataPath(id), blobDataPath(digest), size);
      }
      await manager.query(
        `WITH blob AS (INSERT INTO blobs (digest, size) VALUES ($1, $2) ON CONFLICT (digest) DO UPDATE SET missing_since = NULL WHERE blobs.missing_since IS NOT NULL),
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
    await this.store.delete(id);
    await this.storage.delete(uploadDir(id));
  }
}

/** A writer refusing to pass the storage's largest file: the chunk is refused, the session stays as it was. */
function tooLarge(err: Error): never {
  if (err instanceof FileTooLargeError) {
    throw new RegistryError('BLOB_TOO_LARGE', `the storage holds at most ${formatBytes(err.maxSize)} per blob: this chunk would take the upload past it`, {
      maxBytes: err.maxSize,
    });
  }
  throw err;
}
