/**
 * Before a test run: remove what interrupted runs left behind. Databases whose creating
 * test process is dead are dropped (see dropAbandonedDatabases); private redis-servers
 * from runs before they were tied to their test process (tiedToThisProcess) are found
 * orphaned (adopted by PID 1) with a test directory and killed. Live runs of other
 * worktrees on this machine are never touched.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropAbandonedDatabases, postgresAvailable } from './database.js';

const REDIS_TEST_DIRS = [join(tmpdir(), 'berth-redis-'), join(tmpdir(), 'berth-e2e-redis-')];

/** PIDs of redis-servers the tests started whose test process is gone. */
export function orphanedTestRedisServers(): number[] {
  if (process.platform !== 'linux') return [];
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // redis-server rewrites its command line, but it runs in its --dir.
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'redis-server') continue;
      const dir = readlinkSync(`/proc/${entry}/cwd`);
      const parent = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      if (parent === 1 && REDIS_TEST_DIRS.some((prefix) => dir.startsWith(prefix))) found.push(Number(entry));
    } catch {
      // The process ended while it was looked at.
    }
  }
  return found;
}

export default async function setup(): Promise<void> {
  for (const pid of orphanedTestRedisServers()) {
    try {
      process.kill(pid, 'SIGKILL');
      console.warn(`[test clean-up] killed redis-server ${pid}, left behind by an interrupted run`);
    } catch {
      // Already gone.
    }
  }
  if (await postgresAvailable().catch(() => false)) {
    const dropped = await dropAbandonedDatabases();
    if (dropped.length) console.warn(`[test clean-up] dropped ${dropped.length} database(s) left behind by interrupted runs`);
  }
}
