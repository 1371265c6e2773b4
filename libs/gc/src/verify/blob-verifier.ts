import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { DataSource, type EntityManager } from 'typeorm';
import { type DigestAlgorithm, Digester, parseDigest } from '@berth/core';
import { lockBlobDigest } from '@berth/distribution';
import { type FileInfo, PathNotFoundError, STORAGE_DRIVER, type StorageDriver, blobDataPath, blobDir, uploadDataPath, uploadDir } from '@berth/storage';
import { type BlobRow, BlobRowStore } from '../blob-row.store.js';
import { storedDigests } from '../stored-digests.js';
import { PendingCompletionStore } from '../pending-completion.store.js';
import { type VerifyFinding, type VerifyPhase, type VerifyProgress, type VerifyRun, onlyTrailingBytes } from './verify-run.js';
import { VerifyRunStore, type VerifyStep } from './verify-run.store.js';

const PAGE = 200;
/** The cursor is saved at least this often (and after every page), so an interruption loses little work. */
const SAVE_EVERY_MS = 2000;
const SAVE_EVERY_BYTES = 256 * 1024 * 1024;

/**
 * The integrity check (a scrub): every blob row's file is streamed through its digest's
 * hash (memory stays flat whatever the size) and compared with the row's digest and size,
 * then every file at a content address is looked up for a row. Both walks go in digest
 * order and save their cursor as they go, so an interrupted run continues after the last
 * digest it saved. Reading takes no lock: pushes go on. A suspect is confirmed under the
 * digest's lock (the one uploads hold from their storage check to their commit, see
 * lockBlobDigest), so a blob that a push or a collection was changing at that moment is
 * not reported, and a repair never deletes a file that a push has just made good.
 */
@Injectable()
export class BlobVerifier {
  private readonly logger = new Logger('Verify');

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(BlobRowStore) private readonly blobRows: BlobRowStore,
    @Inject(VerifyRunStore) private readonly runs: VerifyRunStore,
    @Inject(PendingCompletionStore) private readonly pending: PendingCompletionStore,
  ) {}

  /** Continues `run` from its cursor to the end; stops (throwing) between two reads when `signal` aborts. */
  async verify(run: VerifyRun, signal: AbortSignal, progress: (p: VerifyProgress) => void): Promise<VerifyRun> {
    let current = run;
    if (current.phase === 'blobs') {
      current = await this.checkBlobs(current, signal, progress);
      current = await this.runs.advance(this.dataSource.manager, current.id, { phase: 'files', cursor: null });
    }
    return this.checkFiles(current, signal, progress);
  }

  private async checkBlobs(run: VerifyRun, signal: AbortSignal, progress: (p: VerifyProgress) => void): Promise<VerifyRun> {
    const saver = new StepSaver(this.runs, this.dataSource.manager, run, 'blobs', progress);
    let cursor = run.cursor;
    for (;;) {
      const page = await this.blobRows.after(this.dataSource.manager, cursor, PAGE);
      if (!page.length) break;
      for (const blob of page) {
        signal.throwIfAborted();
        const check = await this.checkBlob(run, blob, signal);
        if (check.ok) saver.add({ blobsChecked: 1, blobsOk: 1, bytesChecked: blob.size });
        else if (check.finding) {
          const repaired = check.finding.outcome === 'repaired' ? (onlyTrailingBytes(check.finding) ? ', cut to length' : ', file removed') : '';
          this.logger.warn(`blob ${blob.digest}: ${check.finding.kind}${repaired}`);
          await this.runs.record(this.dataSource.manager, run.id, check.finding);
          saver.add({ blobsChecked: 1, bytesChecked: check.finding.actualSize ?? 0 });
        }
        cursor = blob.digest;
        await saver.moved(cursor, false);
      }
      await saver.moved(cursor, true);
    }
    return saver.done(cursor);
  }

  /**
   * One look without a lock; a bad blob is then confirmed under the digest's lock: its
   * row still there, its file as it was when read (else a push or a collection changed
   * it meanwhile, and it is looked at again). With --repair, there, a corrupt or
   * wrong-size file is deleted and the blob marked missing, as is a blob with no file:
   * reads answer BLOB_UNKNOWN instead of wrong bytes, a client's HEAD before a push does
   * too, so the client uploads the blob again, which stores it and clears the mark. A
   * marked blob whose file is good again is unmarked. A file whose first `size` bytes
   * are the blob, followed by more, is cut to length instead: its bytes are good (reads
   * stop at the recorded size), and it may be the only copy.
   */
  private async checkBlob(run: VerifyRun, blob: BlobRow, signal: AbortSignal): Promise<{ ok: true } | { ok: false; finding?: VerifyFinding }> {
    const { digest, size } = blob;
    for (let attempt = 1; ; attempt++) {
      const seen = await this.inspect(digest, size, signal);
      if (!seen.finding && !(blob.missing && run.repair)) return { ok: true };
      const { finding, file } = seen;
      const verdict = await this.dataSource.transaction(async (m) => {
        await lockBlobDigest(m, digest);
        if ((await this.blobRows.size(m, digest)) === null) return 'gone';
        const now = await this.storage.stat(blobDataPath(digest));
        // Changing under every look: reported as seen, and never deleted unread.
        if (!sameFile(now, file)) return attempt < 3 ? 'changed' : 'found';
        if (!finding) {
          await this.blobRows.setMissing(m, digest, false);
          return 'ok';
        }
        if (!run.repair) return 'found';
        if (now && onlyTrailingBytes(finding)) {
          if (!(await this.cutToLength(digest, size))) return attempt < 3 ? 'changed' : 'found';
          await this.blobRows.setMissing(m, digest, false);
          return 'repaired';
        }
        await this.blobRows.setMissing(m, digest, true);
        if (!now) return 'unrepairable';
        await this.storage.delete(blobDataPath(digest));
        return 'repaired';
      });
      if (verdict === 'gone') return { ok: false };
      if (verdict === 'changed') continue;
      if (verdict === 'ok' || !finding) return { ok: true };
      return { ok: false, finding: { ...finding, outcome: verdict } };
    }
  }

  /**
   * Copies the first `size` bytes to a staging file, hashing them again on the way, and
   * moves the copy over the blob's file: a rename on the filesystem (atomic), an
   * overwrite on S3, so a pull never sees the address missing or partial. False, and the
   * file left alone, when the copy does not hash to `digest` (the file changed). A
   * staging file left by a crash is removed by the upload purge like any other.
   */
  private async cutToLength(digest: string, size: number): Promise<boolean> {
    const staging = randomUUID();
    try {
      const digester = new Digester(parseDigest(digest).algorithm);
      const writer = await this.storage.writer(uploadDataPath(staging), 0);
      let source: Readable | undefined;
      try {
        source = await this.storage.reader(blobDataPath(digest), 0, size);
        const bytes = source;
        await writer.write(
          Readable.from(
            (async function* () {
              for await (const chunk of bytes) {
                digester.update(chunk as Buffer);
                yield chunk as Buffer;
              }
            })(),
          ),
        );
        await writer.commit();
      } catch (err) {
        await writer.cancel();
        throw err;
      } finally {
        source?.destroy();
      }
      if (digester.size !== size || digester.peek() !== digest) return false;
      await this.storage.move(uploadDataPath(staging), blobDataPath(digest), size);
      return true;
    } finally {
      await this.storage.delete(uploadDir(staging));
    }
  }

  /**
   * Size first (a stat), then the bytes, streamed through the digest's hash: all of them,
   * or the first `size` when the file is larger (trailing bytes after a good blob are
   * reported with the digest they hash to, see onlyTrailingBytes).
   */
  private async inspect(digest: string, size: number, signal: AbortSignal): Promise<{ file: FileInfo | null; finding?: Omit<VerifyFinding, 'outcome'> }> {
    const path = blobDataPath(digest);
    const base = { digest, expectedSize: size, actualSize: null, actualDigest: null };
    const file = await this.storage.stat(path);
    if (!file) return { file, finding: { ...base, kind: 'missing' } };
    if (file.size < size) return { file, finding: { ...base, kind: 'size_mismatch', actualSize: file.size } };
    const hashed = await this.hash(path, parseDigest(digest).algorithm, signal, size);
    if (!hashed) return { file: null, finding: { ...base, kind: 'missing' } };
    if (file.size > size) {
      const prefixGood = hashed.size === size && hashed.digest === digest;
      return { file, finding: { ...base, kind: 'size_mismatch', actualSize: file.size, actualDigest: prefixGood ? digest : null } };
    }
    if (hashed.size !== size) return { file, finding: { ...base, kind: 'size_mismatch', actualSize: hashed.size } };
    if (hashed.digest !== digest) return { file, finding: { ...base, kind: 'corrupt', actualSize: hashed.size, actualDigest: hashed.digest } };
    return { file };
  }

  /** One streaming pass over at most `length` bytes; null when the file went away before it could be opened. */
  private async hash(path: string, algorithm: DigestAlgorithm, signal: AbortSignal, length: number): Promise<{ digest: string; size: number } | null> {
    let stream: Readable;
    try {
      stream = await this.storage.reader(path, 0, length);
    } catch (err) {
      if (err instanceof PathNotFoundError) return null;
      throw err;
    }
    const digester = new Digester(algorithm);
    try {
      for await (const chunk of stream) {
        signal.throwIfAborted();
        digester.update(chunk as Buffer);
      }
    } finally {
      stream.destroy();
    }
    return { digest: digester.peek(), size: digester.size };
  }

  private async checkFiles(run: VerifyRun, signal: AbortSignal, progress: (p: VerifyProgress) => void): Promise<VerifyRun> {
    const saver = new StepSaver(this.runs, this.dataSource.manager, run, 'files', progress);
    let cursor = run.cursor;
    for await (const digests of storedDigests(this.storage, this.logger, PAGE, cursor)) {
      signal.throwIfAborted();
      for (const digest of await this.blobRows.withoutRow(this.dataSource.manager, digests)) {
        signal.throwIfAborted();
        await this.orphan(run, digest);
      }
      saver.add({ filesChecked: digests.length });
      cursor = digests[digests.length - 1];
      await saver.moved(cursor, true);
    }
    return saver.done(cursor);
  }

  /**
   * A file without a row, confirmed under the digest's lock (an upload commits its row
   * under it); with --repair, deleted there. One an open upload session has recorded as
   * its digest is no orphan: its completion moved it in and stopped before committing,
   * and the retry needs it (an abandoned session is purged, its file then found here).
   */
  private async orphan(run: VerifyRun, digest: string): Promise<void> {
    const size = await this.dataSource.transaction(async (m: EntityManager) => {
      await lockBlobDigest(m, digest);
      if ((await this.blobRows.size(m, digest)) !== null) return null;
      if (await this.pending.awaits(m, digest)) {
        this.logger.log(`file ${digest}: no blob row yet, kept for the upload session completing to it`);
        return null;
      }
      const found = (await this.storage.stat(blobDataPath(digest)))?.size ?? 0;
      if (run.repair) await this.storage.delete(blobDir(digest));
      return found;
    });
    if (size === null) return;
    this.logger.warn(`file ${digest}: orphan`);
    await this.runs.record(this.dataSource.manager, run.id, {
      digest,
      kind: 'orphan',
      expectedSize: null,
      actualSize: size,
      actualDigest: null,
      outcome: run.repair ? 'repaired' : 'found',
    });
  }
}

/** The same file: both absent, or the same size and modification time (a push or repair replaces the whole file). */
function sameFile(a: FileInfo | null, b: FileInfo | null): boolean {
  if (!a || !b) return a === b;
  return a.size === b.size && a.modifiedAt.getTime() === b.modifiedAt.getTime();
}

/** Gathers one phase's counts and saves them with the cursor every page, or sooner after much time or many bytes. */
class StepSaver {
  private pending: Required<Omit<VerifyStep, 'phase' | 'cursor'>> = { blobsChecked: 0, blobsOk: 0, bytesChecked: 0, filesChecked: 0 };
  private savedAt = Date.now();

  constructor(
    private readonly runs: VerifyRunStore,
    private readonly manager: EntityManager,
    private run: VerifyRun,
    private readonly phase: VerifyPhase,
    private readonly progress: (p: VerifyProgress) => void,
  ) {}

  add(step: Partial<typeof this.pending>): void {
    for (const key of Object.keys(step) as (keyof typeof this.pending)[]) this.pending[key] += step[key] ?? 0;
  }

  async moved(cursor: string | null, pageEnd: boolean): Promise<void> {
    if (!pageEnd && Date.now() - this.savedAt < SAVE_EVERY_MS && this.pending.bytesChecked < SAVE_EVERY_BYTES) return;
    this.run = await this.runs.advance(this.manager, this.run.id, { phase: this.phase, cursor, ...this.pending });
    this.pending = { blobsChecked: 0, blobsOk: 0, bytesChecked: 0, filesChecked: 0 };
    this.savedAt = Date.now();
    this.progress({ run: this.run, phase: this.phase, phaseDone: false });
  }

  async done(cursor: string | null): Promise<VerifyRun> {
    await this.moved(cursor, true);
    this.progress({ run: this.run, phase: this.phase, phaseDone: true });
    return this.run;
  }
}
