/** Starting, watching and stopping a registry server running as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { errorMessage, trackChild, type Scope } from './cleanup.js';

/** Enough of the server's output to explain a failed start, without unbounded growth. */
const OUTPUT_TAIL_BYTES = 16 * 1024;

export interface ServerProcess {
  label: string;
  pid: number;
  /** Resolves when the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  outputTail(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  // Bind port 0 and release it; a tiny race with other processes is acceptable here.
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export function startServer(
  scope: Scope,
  label: string,
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string },
): ServerProcess {
  const child = spawn(command, args, {
    env: options.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);

  // Always drain stdout/stderr: a full pipe would stall the server mid-benchmark.
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolveExit({ code, signal });
    });
    child.once('error', (err) => {
      keep(Buffer.from(`\n[spawn error] ${err.message}\n`));
      exitedFlag = true;
      resolveExit({ code: null, signal: null });
    });
  });

  const server: ServerProcess = {
    label,
    pid: child.pid ?? -1,
    exited,
    hasExited: () => exitedFlag,
    outputTail: () => tail.trim(),
    stop: () => stopChild(child, exited, () => exitedFlag),
  };
  scope.defer(`stop ${label}`, server.stop);
  return server;
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<unknown>,
  hasExited: () => boolean,
): Promise<void> {
  if (hasExited()) return;
  child.kill('SIGTERM');
  // Give the server a chance to shut down cleanly (close DB pools etc.), then insist.
  const graceful = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!graceful && !hasExited()) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Polls GET /v2/ until the server answers with any status below 500 (401 is
 * fine: it proves the API is routed). Fails fast if the child dies first.
 */
export async function waitForRegistry(server: ServerProcess, baseUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (server.hasExited()) {
      const { code, signal } = await server.exited;
      throw new Error(
        `${server.label} exited (code ${code}, signal ${signal}) before answering GET ${baseUrl}/v2/` +
          formatTail(server),
      );
    }
    try {
      const res = await request(`${baseUrl}/v2/`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      await res.body.dump();
      if (res.statusCode < 500) return;
      lastProblem = `HTTP ${res.statusCode}`;
    } catch (err) {
      lastProblem = errorMessage(err);
    }
    await sleep(100);
  }
  throw new Error(
    `${server.label} did not answer GET ${baseUrl}/v2/ with a status < 500 within ${timeoutMs / 1000}s ` +
      `(last: ${lastProblem}).` +
      (lastProblem.includes('ECONNREFUSED') ? ' Does it listen on the PORT it was given?' : '') +
      formatTail(server),
  );
}

function formatTail(server: ServerProcess): string {
  const tail = server.outputTail();
  if (!tail) return ' (no output)';
  // Strip ANSI colours (Nest's logger) so the message reads cleanly in any terminal or log file.
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, '');
  const lines = plain.split('\n').slice(-25).join('\n    ');
  return `\n  last output:\n    ${lines}`;
}
