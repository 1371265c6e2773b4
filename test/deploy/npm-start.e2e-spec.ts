import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, acceptsConnections } from '../support/ports.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STAMP = join(ROOT, 'dist', '.build-stamp');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

// `npm start` exactly as a supervisor runs it, on the embedded database (nothing else needed).
describe('npm start (a real npm process)', () => {
  let dataDir: string;
  let npm: ChildProcess | undefined;

  /** `npm start` until the registry answers: its npm process, the registry's PID, and when it printed its first line. */
  async function npmStart(port: number): Promise<{ npm: ChildProcess; registryPid: number; firstLineMs: number; output: () => string }> {
    const { DATABASE_URL: _unused, ...env } = process.env;
    const started = Date.now();
    const child = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'log' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    npm = child;
    let output = '';
    let firstLineMs = 0;
    child.stdout!.on('data', (c) => {
      if (!firstLineMs && /"service":"registry"/.test(String(c))) firstLineMs = Date.now() - started;
      output += c;
    });
    child.stderr!.on('data', (c) => (output += c));
    // Generous: the first start builds dist/, on a busy machine that can take minutes.
    for (let i = 0; i < 6000; i++) {
      if (child.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
      if (await acceptsConnections(port)) {
        const pid = Number(/"service":"registry","pid":(\d+)/.exec(output)?.[1]);
        expect(pid, output).toBeGreaterThan(0);
        return { npm: child, registryPid: pid, firstLineMs, output: () => output };
      }
      await sleep(100);
    }
    throw new Error(`the registry did not start:\n${output}`);
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-npm-start-'));
  });
  afterEach(() => {
    if (npm && npm.exitCode === null) npm.kill('SIGKILL');
  });
  afterAll(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('stops the registry when the npm process gets SIGTERM: the port closes and no process is left', async () => {
    const port = await freePort();
    const { npm: child, registryPid, output } = await npmStart(port);
    expect(registryPid).not.toBe(child.pid);

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited, output()).toBe(0);
    expect(output()).toContain('SIGTERM: refusing new connections');
    expect(await acceptsConnections(port)).toBe(false);
    expect(alive(registryPid)).toBe(false);
  }, 900_000);

  it('builds only when dist/ is missing or older than the sources', async () => {
    const built = (await stat(STAMP)).mtimeMs;
    const port = await freePort();
    const { npm: child, firstLineMs } = await npmStart(port);
    console.log(`[npm start] already built: first registry log line after ${firstLineMs} ms`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    expect((await stat(STAMP)).mtimeMs).toBe(built);

    // A source changed (as after a git pull): the next start rebuilds first.
    const source = join(ROOT, 'libs/core/src/index.ts');
    const { atime } = await stat(source);
    await utimes(source, atime, new Date(built + 1000));
    const rebuilt = await run(process.execPath, ['scripts/build.mjs', '--if-stale']);
    expect(rebuilt.code, rebuilt.output).toBe(0);
    expect(rebuilt.output).toContain('building dist/: sources changed since the last build');
    expect((await stat(STAMP)).mtimeMs).toBeGreaterThan(built);

    const upToDate = await run(process.execPath, ['scripts/build.mjs', '--if-stale']);
    expect(upToDate).toEqual({ code: 0, output: '' });
  }, 900_000);
});
