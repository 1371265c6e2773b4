import { resolve } from 'node:path';
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;

const port = z.coerce.number({ error: 'must be a port number (0-65535)' }).int().min(0).max(65535, 'must be a port number (0-65535)');
const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

/** Every environment variable Berth reads, with defaults; the only place that knows their names. */
const environmentSchema = z.object({
  PORT: port.default(5000),
  HOST: z.string().default('0.0.0.0'),
  PUBLIC_URL: z.preprocess((v) => (v === '' ? undefined : v), z.url({ protocol: /^https?$/ }).optional()),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('log'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
  ),
  DATABASE_POOL_SIZE: z.coerce.number({ error: 'must be a whole number' }).int().min(1).max(200).default(10),
  STORAGE_DRIVER: z.enum(['filesystem', 'inmemory']).default('filesystem'),
  STORAGE_ROOT: optionalString,
  MANIFEST_MAX_BYTES: z.coerce.number({ error: 'must be a number of bytes' }).int().min(1024).default(4 * 1024 * 1024),
});

export type Environment = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The typed, validated configuration, built once from the environment. */
export class BerthConfig {
  readonly port: number;
  readonly host: string;
  /** Base URL clients reach the registry at; absent → Location headers stay relative. */
  readonly publicUrl?: string;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly dataDir: string;
  /** No url → the embedded database under dataDir. */
  readonly database: { url?: string; poolSize: number; embeddedDir: string };
  readonly storage: { driver: 'filesystem' | 'inmemory'; root: string };
  readonly manifestMaxBytes: number;

  constructor(env: Environment) {
    const parsed = environmentSchema.safeParse(env);
    if (!parsed.success) {
      throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
    }
    const e = parsed.data;
    const dataDir = resolve(e.DATA_DIR);
    this.port = e.PORT;
    this.host = e.HOST;
    this.publicUrl = e.PUBLIC_URL?.replace(/\/+$/, '');
    this.logLevel = e.LOG_LEVEL;
    this.dataDir = dataDir;
    this.database = { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, embeddedDir: resolve(dataDir, 'db') };
    this.storage = { driver: e.STORAGE_DRIVER, root: resolve(e.STORAGE_ROOT ?? resolve(dataDir, 'storage')) };
    this.manifestMaxBytes = e.MANIFEST_MAX_BYTES;
  }
}
