import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The embedded database of the default mode: PGlite (Postgres compiled to WASM)
 * persisted under `dir`, served over the Postgres wire protocol on a private Unix
 * socket so the ordinary `pg` driver and the same migrations work unchanged.
 * PGlite is a single session, so clients must use exactly one connection.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    private readonly socketDir: string,
  ) {}

  static async start(dir: string): Promise<EmbeddedPostgres> {
    await mkdir(dir, { recursive: true });
    const db = await PGlite.create(dir);
    // Socket paths are limited to ~107 bytes, so the socket lives in a short temp dir.
    const socketDir = join(tmpdir(), `berth-pg-${randomBytes(4).toString('hex')}`);
    await mkdir(socketDir, { recursive: true });
    const server = new PGLiteSocketServer({ db, path: join(socketDir, '.s.PGSQL.5432'), maxConnections: 1 });
    await server.start();
    return new EmbeddedPostgres(db, server, socketDir);
  }

  /** Connection settings for `pg`: host is the socket's directory. */
  get connection(): { host: string; port: number; username: string; database: string } {
    return { host: this.socketDir, port: 5432, username: 'postgres', database: 'postgres' };
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
    await rm(this.socketDir, { recursive: true, force: true });
  }
}
