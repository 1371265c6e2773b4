/**
 * Helpers to drive real registry clients (skopeo, podman, containerd's ctr)
 * from the e2e suite, each isolated in its own temporary directory so that the
 * host's container storage, credentials and registry settings are never used
 * or modified.
 *
 * Commands are always spawned asynchronously: when the registry under test runs
 * in this very process (startRegistry() without E2E_REGISTRY_URL), a synchronous
 * child_process call would block the event loop and the client would hang
 * waiting for a server that cannot answer.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CommandResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as raw bytes, for byte-exact comparisons (skopeo inspect --raw). */
  stdoutBytes: Buffer;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  cwd?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Runs a command to completion; never throws, so tests can assert on failures too. */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const command = [file, ...args].join(' ');
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      const stdout = stdoutBytes.toString('utf8');
      resolve({ command, code, signal, stdout, stdoutBytes, stderr, timedOut, ms: Date.now() - started });
    };
    child.on('error', (err) => {
      stderr += `\nspawn error: ${err.message}`;
      finish(null, null);
    });
    child.on('close', finish);
  });
}

/** Assertion message for a command result: the command line plus its stderr (and stdout tail). */
export function explain(result: CommandResult): string {
  const status = result.timedOut
    ? `timed out after ${result.ms} ms`
    : `exited with ${result.code ?? result.signal} after ${result.ms} ms`;
  const tail = (s: string) => (s.length > 4000 ? `...${s.slice(-4000)}` : s);
  return `\`${result.command}\` ${status}\n--- stderr ---\n${tail(result.stderr)}\n--- stdout ---\n${tail(result.stdout)}`;
}

/** Like run(), but throws with the command's stderr unless it exits 0. */
export async function mustRun(file: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const result = await run(file, args, options);
  if (result.code !== 0) throw new Error(explain(result));
  return result;
}

/** True when `name` can be executed (checked once, before any test runs). */
export function hasCommand(name: string): boolean {
  const probe = spawnSync(name, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  return !probe.error && probe.status === 0;
}

// ---------------------------------------------------------------------------
// containers/image configuration shared by skopeo and podman

export interface ContainersEnv {
  /** Environment variables pointing skopeo/podman at the files below. */
  env: Record<string, string>;
  /** Signature policy accepting anything (the host's policy.json may be absent or strict). */
  policyPath: string;
}

/**
 * Writes a registries.conf marking the registry as insecure (plain HTTP), an
 * empty auth file, a permissive policy.json and a containers.conf
 * so that nothing from /etc/containers or ~/.config leaks into the test.
 */
export async function writeContainersConfig(dir: string, registryHost: string): Promise<ContainersEnv> {
  await mkdir(dir, { recursive: true });
  const registriesConf = join(dir, 'registries.conf');
  await writeFile(
    registriesConf,
    [
      'unqualified-search-registries = []',
      'short-name-mode = "disabled"',
      '',
      '[[registry]]',
      `location = "${registryHost}"`,
      'insecure = true',
      '',
    ].join('\n'),
  );
  const authFile = join(dir, 'auth.json');
  await writeFile(authFile, JSON.stringify({ auths: {} }));
  const policyPath = join(dir, 'policy.json');
  await writeFile(policyPath, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const containersConf = join(dir, 'containers.conf');
  // Same choices as the podman command-line flags below; kept in the file too so
  // that any podman subcommand that ignores a flag still avoids systemd/journald.
  await writeFile(
    containersConf,
    ['[engine]', 'cgroup_manager = "cgroupfs"', 'events_logger = "none"', ''].join('\n'),
  );
  return {
    env: {
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      REGISTRY_AUTH_FILE: authFile,
      CONTAINERS_CONF: containersConf,
    },
    policyPath,
  };
}

export interface PodmanStore {
  /** Global podman flags selecting this store; put them before the subcommand. */
  flags: string[];
  /** CONTAINERS_STORAGE_CONF for this store. */
  env: Record<string, string>;
  remove(): Promise<void>;
}

/**
 * Creates a private, empty podman image store. Flags, and why:
 *   --root/--runroot/--tmpdir  private image store and state (never /var/lib/containers or /run/libpod)
 *   --storage-driver vfs       no overlay mounts needed (overlay-in-overlay often fails in containers)
 *   --cgroup-manager cgroupfs  no systemd; only pull/push/tag/inspect are used anyway
 *   --events-backend none      no journald and no events file outside the temp dir
 * Podman 4.3 refuses a --runroot longer than 50 characters ("the specified runroot
 * is longer than 50 characters"), hence a short directory name directly under
 * the temp dir (or /tmp when TMPDIR itself is long). Running as root in this
 * sandbox needed nothing more: no network setup is involved since nothing is run.
 */
export async function createPodmanStore(): Promise<PodmanStore> {
  let base = tmpdir();
  if (base.length > 35) base = '/tmp';
  const dir = await mkdtemp(join(base, 'bp-'));
  // A storage.conf of our own, so the host's (whose driver options may not suit
  // vfs) is never read; podman insists on graphroot/runroot being set in it.
  const storageConf = join(dir, 'storage.conf');
  await writeFile(
    storageConf,
    ['[storage]', 'driver = "vfs"', `graphroot = "${join(dir, 'root')}"`, `runroot = "${join(dir, 'run')}"`, ''].join('\n'),
  );
  return {
    env: { CONTAINERS_STORAGE_CONF: storageConf },
    flags: [
      '--root',
      join(dir, 'root'),
      '--runroot',
      join(dir, 'run'),
      '--tmpdir',
      join(dir, 'tmp'),
      '--storage-driver',
      'vfs',
      '--cgroup-manager',
      'cgroupfs',
      '--events-backend',
      'none',
    ],
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------
// containerd

export interface Containerd {
  address: string;
  /** Runs `ctr -a <socket> <args>`. */
  ctr(args: string[], options?: RunOptions): Promise<CommandResult>;
  stop(): Promise<void>;
}

/**
 * Starts a private containerd whose root, state, sockets and plugin dirs all
 * live under `dir`. Only the content store, metadata and the `native`
 * snapshotter are needed to pull and push; CRI is disabled (it would look for
 * CNI), as are snapshotters that probe kernel features.
 */
export async function startContainerd(dir: string): Promise<Containerd> {
  await mkdir(dir, { recursive: true });
  const address = join(dir, 'containerd.sock');
  const configPath = join(dir, 'config.toml');
  await writeFile(
    configPath,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.overlayfs"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      // Without this the "opt" plugin creates /opt/containerd on the host.
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(dir, 'opt')}"`,
      '',
    ].join('\n'),
  );
  const child = spawn('containerd', ['--config', configPath, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (log = (log + chunk).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const ctr = (args: string[], options: RunOptions = {}) => run('ctr', ['-a', address, ...args], options);

  // containerd creates the socket asynchronously; poll until `ctr version` answers.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const probe = await ctr(['version'], { timeoutMs: 5_000 });
    if (probe.code === 0) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`containerd did not start (exit ${child.exitCode}):\n${log}\n${explain(probe)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    address,
    ctr,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
