import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `unshare --pid --fork` makes the registry PID 1 of a new PID namespace, as in a
// container, where a signal without a handler is ignored. It needs root (or user namespaces).
const pidNamespaces = spawnSync('unshare', ['--pid', '--fork', 'true']).status === 0;
if (!pidNamespaces) {
  if (process.env.CI === 'true') throw new Error('[start-up signal] unshare --pid --fork does not work here');
  console.warn('[start-up signal] SKIPPED: unshare --pid --fork does not work here (needs root)');
}

describe.skipIf(!pidNamespaces)('SIGTERM during start-up (the registry as PID 1)', () => {
  let dataDir: string;
  let postgres: net.Server;
  const held: net.Socket[] = [];
  let connected!: Promise<void>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-start-signal-'));
    // A "Postgres" that accepts and never answers: the registry's start-up waits on it for as long as the test wants.
    let reached!: () => void;
    connected = new Promise((resolve) => (reached = resolve));
    postgres = net.createServer((socket) => {
      held.push(socket);
      reached();
    });
    await new Promise<void>((resolve) => postgres.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => postgres?.close(resolve));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('exits promptly, with a message, when SIGTERM arrives before the registry listens', async () => {
    const { port } = postgres.address() as AddressInfo;
    const child = spawn('unshare', ['--pid', '--fork', '--kill-child', process.execPath, '--import', './test/support/register-ts.mjs', 'apps/registry/src/main.ts'], {
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/berth`, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    try {
      await connected;
      // The registry itself: unshare's only child, PID 1 inside its namespace.
      const registryPid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim());
      expect(readFileSync(`/proc/${registryPid}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);

      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      process.kill(registryPid, 'SIGTERM');
      // Ignored, it would wait here for ever (until the supervisor's SIGKILL): 20 s is plenty for a handled one.
      const code = await Promise.race([exited, sleep(20_000).then(() => 'still running')]);
      expect(code, output).toBe(0);
      expect(output).toContain('SIGTERM during start-up: exiting');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 300_000);
});
