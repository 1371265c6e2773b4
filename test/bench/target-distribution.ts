/** Starts the reference: CNCF Distribution 2.8 (Debian's docker-registry), as a child process. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Scope } from './cleanup.js';
import type { BenchConfig } from './config.js';
import { freePort, startServer, waitForRegistry } from './server-process.js';
import type { RunningTarget } from './target.js';

const execFileAsync = promisify(execFile);

export async function distributionVersion(bin: string): Promise<string> {
  try {
    // e.g. "docker-registry github.com/docker/distribution 2.8.2+ds1"
    const { stdout } = await execFileAsync(bin, ['--version']);
    return stdout.trim().split(/\s+/).pop() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function configYaml(rootDir: string, port: number, cache: BenchConfig['distributionCache'], proxyRemoteUrl?: string): string {
  // Mirrors Berth's bench setup: local filesystem, deletes allowed, quiet
  // logs (no access log: writing one line per request would cost both CPU
  // cores' time we want spent serving), no auth.
  const cacheBlock = cache === 'inmemory' ? ['  cache:', '    blobdescriptor: inmemory'] : [];
  // Pull-through mode (figure 8): repositories under the upstream's names, pushes refused.
  const proxyBlock = proxyRemoteUrl ? ['proxy:', `  remoteurl: ${proxyRemoteUrl}`] : [];
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${rootDir}`,
    '  delete:',
    '    enabled: true',
    ...cacheBlock,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    // An explicit secret silences the "No HTTP secret provided" warning at start-up.
    `  secret: ${randomBytes(16).toString('hex')}`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
    ...proxyBlock,
    '',
  ].join('\n');
}

export interface DistributionStartOptions {
  /** Distribution's pull-through mode (`proxy.remoteurl`), mirroring this registry. */
  proxyRemoteUrl?: string;
  /** Server label in messages (default "Distribution"). */
  label?: string;
}

/** Starts Distribution; `storageDir` is its filesystem storage's root directory. */
export async function startDistribution(
  config: BenchConfig,
  scope: Scope,
  options: DistributionStartOptions = {},
): Promise<RunningTarget & { storageDir: string }> {
  const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-distribution-'));
  scope.defer('remove Distribution temp dir', () => rm(workDir, { recursive: true, force: true, maxRetries: 3 }));
  const rootDir = join(workDir, 'storage');
  await mkdir(rootDir);

  const port = await freePort();
  const configFile = join(workDir, 'config.yml');
  await writeFile(configFile, configYaml(rootDir, port, config.distributionCache, options.proxyRemoteUrl));

  const server = startServer(scope, options.label ?? 'Distribution', config.distributionBin, ['serve', configFile], {
    env: { ...process.env },
    cwd: workDir,
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForRegistry(server, baseUrl, 30_000);

  const version = await distributionVersion(config.distributionBin);
  return {
    label: `Distribution ${version}`,
    version,
    baseUrl,
    server,
    storageDir: rootDir,
    notes: [
      `blobdescriptor cache: ${config.distributionCache === 'inmemory' ? 'inmemory (the default config)' : 'none'}`,
      'filesystem storage, delete enabled, no auth',
      ...(options.proxyRemoteUrl ? [`proxy mode, remoteurl ${options.proxyRemoteUrl}`] : []),
    ],
  };
}
