/**
 * Debian's docker-registry (CNCF Distribution 2.8) as a child process, for the
 * pull-through cache's suites: a plain upstream, one behind htpasswd Basic auth, or
 * Distribution's own proxy mode (`proxy.remoteurl`). It can be stopped and started again
 * on the same port and storage, to play an upstream outage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { freePort } from './ports.js';
import { tiedToThisProcess } from './tied-process.js';

export const DISTRIBUTION_BIN = '/usr/bin/docker-registry';
export const distributionAvailable = existsSync(DISTRIBUTION_BIN);

export interface UpstreamOptions {
  /** htpasswd Basic auth with this one account. */
  htpasswd?: { username: string; password: string };
  /** Distribution's pull-through mode, mirroring this registry. */
  proxy?: { remoteUrl: string; username?: string; password?: string };
}

export interface UpstreamRegistry {
  url: string;
  host: string;
  /** Stops the process (SIGKILL: an outage, not a shutdown); its storage stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startUpstreamRegistry(options: UpstreamOptions = {}): Promise<UpstreamRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-upstream-'));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
  ];
  if (options.htpasswd) {
    const file = join(dir, 'htpasswd');
    await writeFile(file, `${options.htpasswd.username}:${bcrypt.hashSync(options.htpasswd.password, 10)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: upstream', `    path: ${file}`);
  }
  if (options.proxy) {
    lines.push('proxy:', `  remoteurl: ${options.proxy.remoteUrl}`);
    if (options.proxy.username) lines.push(`  username: ${options.proxy.username}`, `  password: ${options.proxy.password ?? ''}`);
  }
  await mkdir(join(dir, 'storage'));
  const configFile = join(dir, 'config.yml');
  await writeFile(configFile, `${lines.join('\n')}\n`);
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    const [command, args] = tiedToThisProcess(DISTRIBUTION_BIN, ['serve', configFile]);
    child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const res = await fetch(`${url}/v2/`);
        if (res.status === 200 || res.status === 401) return;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    host: `127.0.0.1:${port}`,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
