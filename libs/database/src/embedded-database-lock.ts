import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

/** Another live process has the embedded database open. */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(dir: string, owner: LockOwner | undefined, lockFile: string) {
    const where = !owner ? 'another process' : owner.host === hostname() ? `process ${owner.pid}` : `process ${owner.pid} on host ${owner.host}`;
    super(
      `the embedded database under ${dir} is in use by ${where} (the registry?): stop it, or run the command ` +
        `against the running registry's PostgreSQL with DATABASE_URL. If that process is gone, delete ${lockFile}.`,
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
}

/**
 * An exclusive lock on the embedded database's directory: its server is one process's
 * child, and a second process would start a second server on the same files (or find
 * the first one's and stop it). The lock file
 * `<dir>.lock` names its owner; it is created whole and atomically (written aside, then
 * hard-linked into place, which fails if it exists). A lock whose process is dead is
 * taken over; one from another host cannot be checked and is refused.
 */
export class EmbeddedDatabaseLock {
  private released = false;
  private readonly releaseOnExit = () => this.releaseSync();

  private constructor(
    readonly file: string,
    private readonly token: string,
  ) {
    // Also on process.exit() (a signal during start-up): the next start then finds no lock at all.
    process.once('exit', this.releaseOnExit);
  }

  static async acquire(dir: string): Promise<EmbeddedDatabaseLock> {
    const file = `${dir.replace(/[/\\]+$/, '')}.lock`;
    const owner: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
    const token = JSON.stringify(owner);
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(draft, token, { flag: 'wx' });
    try {
      // After a stale lock is taken over, another EEXIST means a live process won the race.
      let tookOver = false;
      for (let attempt = 0; ; attempt++) {
        try {
          await link(draft, file);
          return new EmbeddedDatabaseLock(file, token);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const current = await readFile(file, 'utf8').catch(() => undefined);
        // Gone meanwhile (its owner released it): try again, a few times.
        if (current === undefined && attempt < 3) continue;
        const holder = current === undefined ? undefined : parseOwner(current);
        if (tookOver || !holder || isAlive(holder)) throw new EmbeddedDatabaseInUseError(dir, holder, file);
        await removeIfUnchanged(file, current!);
        tookOver = true;
      }
    } finally {
      await unlink(draft).catch(() => undefined);
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.releaseOnExit);
    await removeIfUnchanged(this.file, this.token);
  }

  private releaseSync(): void {
    if (this.released) return;
    this.released = true;
    try {
      if (readFileSync(this.file, 'utf8') === this.token) unlinkSync(this.file);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as LockOwner;
    return Number.isInteger(owner.pid) && typeof owner.host === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Alive unless provably dead: on this host, no such process, or this very process (a restarted container's PID 1). */
function isAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the lock file if it still holds `content`. It is moved aside first, so a lock
 * another process created in between is never deleted: it is put back instead.
 */
async function removeIfUnchanged(file: string, content: string): Promise<void> {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.old`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((await readFile(aside, 'utf8')) !== content) await link(aside, file).catch(() => undefined);
  await unlink(aside);
}
