import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { CronPattern } from '@berth/core';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;

const port = z.coerce.number({ error: 'must be a port number (0-65535)' }).int().min(0).max(65535, 'must be a port number (0-65535)');
const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());
const seconds = z.coerce.number({ error: 'must be a number of seconds' }).int().min(1);
const optionalHttpUrl = z.preprocess((v) => (v === '' ? undefined : v), z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional());
/** Object key segments as storage paths allow them; `.` and `..` would be rewritten in presigned URLs. */
const KEY_PREFIX = /^(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+)*$/;
/** A cron pattern (see CronPattern), or `off`. */
const schedule = z.string().superRefine((value, ctx) => {
  if (value.trim() === 'off') return;
  try {
    CronPattern.parse(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be a cron pattern or "off": ${(err as Error).message}` });
  }
});

const PROXY_PRESETS = ['loopback', 'linklocal', 'uniquelocal'];
/** A hop count, or addresses, CIDR subnets and Express's presets, comma-separated; unset → no proxy trusted. */
const trustProxy = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
  z
    .string()
    .optional()
    .transform((value, ctx): number | string[] | false => {
      if (value === undefined || value.trim() === 'false') return false;
      if (/^\d+$/.test(value.trim())) return Number(value.trim()) || false;
      const entries = value.split(',').map((entry) => entry.trim());
      for (const entry of entries) {
        const [address, bits, extra] = entry.split('/');
        const family = isIP(address);
        const prefixOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
        if (!PROXY_PRESETS.includes(entry) && (!family || !prefixOk || extra !== undefined)) {
          ctx.addIssue({ code: 'custom', message: `must be a number of proxy hops, or addresses, CIDR subnets, ${PROXY_PRESETS.join(', ')}: "${entry}"` });
          return z.NEVER;
        }
      }
      return entries;
    }),
);

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
  STORAGE_DRIVER: z.enum(['filesystem', 'inmemory', 's3']).default('filesystem'),
  STORAGE_ROOT: optionalString,
  STORAGE_REDIRECT: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  STORAGE_SENDFILE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  S3_BUCKET: optionalString,
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ENDPOINT: optionalHttpUrl,
  S3_PUBLIC_ENDPOINT: optionalHttpUrl,
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  S3_PREFIX: z.preprocess(
    (v) => (typeof v === 'string' ? v.replace(/^\/+|\/+$/g, '') || undefined : v),
    z.string().regex(KEY_PREFIX, 'must be /-separated names of letters, digits, dots, dashes and underscores (not . or ..)').optional(),
  ),
  // SigV4 presigned URLs live at most 7 days.
  S3_REDIRECT_EXPIRY_SECONDS: seconds.max(7 * 24 * 3600).default(600),
  MANIFEST_MAX_BYTES: z.coerce.number({ error: 'must be a number of bytes' }).int().min(1024).default(4 * 1024 * 1024),
  MANIFEST_CACHE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  ADMIN_USERNAME: z.string().regex(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/, 'must be a lowercase name like a repository path component').default('admin'),
  ADMIN_PASSWORD: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(8, 'must be at least 8 characters').optional()),
  TOKEN_SIGNING_KEY: optionalString,
  TOKEN_SIGNING_KEY_FILE: optionalString,
  TOKEN_ISSUER: z.string().min(1).default('berth'),
  TOKEN_SERVICE: z.string().min(1).default('berth-registry'),
  TOKEN_TTL_SECONDS: seconds.default(300),
  REFRESH_TOKEN_TTL_SECONDS: seconds.default(30 * 24 * 3600),
  TOKEN_MAX_SCOPES: z.coerce.number({ error: 'must be a whole number' }).int().min(1).max(1000).default(32),
  LOGIN_MAX_FAILURES: z.coerce.number({ error: 'must be a whole number' }).int().min(1).default(10),
  LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number({ error: 'must be a whole number' }).int().min(1).default(50),
  LOGIN_FAILURE_WINDOW_SECONDS: seconds.default(300),
  REDIS_URL: z.preprocess((v) => (v === '' ? undefined : v), z.url({ protocol: /^rediss?$/, error: 'must be a redis:// URL' }).optional()),
  RUN_WORKERS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  SECRETS_KEY: optionalString,
  SECRETS_KEY_FILE: optionalString,
  WEBHOOK_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  WEBHOOK_HISTORY_DAYS: z.coerce.number({ error: 'must be a number of days' }).int().min(1).default(30),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number({ error: 'must be a number of milliseconds' }).int().min(1).default(1000),
  PROXY_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  PROXY_ALLOW_PRIVATE_NETWORKS: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  PROXY_UPSTREAM_TIMEOUT_SECONDS: seconds.default(30),
  MIRROR_DEFAULT_NAMESPACE: optionalString,
  GC_SCHEDULE: schedule.default('0 3 * * *'),
  GC_DELETE_UNTAGGED: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  GC_REVIEW_DELAY_SECONDS: z.coerce.number({ error: 'must be a number of seconds' }).int().min(0).default(3600),
  UPLOAD_PURGE_SCHEDULE: schedule.default('30 * * * *'),
  UPLOAD_MAX_AGE_SECONDS: seconds.default(24 * 3600),
  UPLOAD_MAX_SESSIONS_PER_ACCOUNT: z.coerce.number({ error: 'must be a whole number' }).int().min(1).default(100),
  UPLOAD_MAX_SESSIONS_PER_NAMESPACE: z.coerce.number({ error: 'must be a whole number' }).int().min(1).default(1000),
  METRICS_TOKEN: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(16, 'must be at least 16 characters').optional()),
  READ_ONLY: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  AUTO_CREATE_NAMESPACES: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  TLS_CERT: optionalString,
  TLS_KEY: optionalString,
  SHUTDOWN_TIMEOUT_SECONDS: seconds.default(30),
  BODY_IDLE_TIMEOUT_SECONDS: seconds.default(60),
  BODY_DEADLINE_SECONDS: seconds.default(10),
  TRUST_PROXY: trustProxy,
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
  readonly storage: {
    driver: 'filesystem' | 'inmemory' | 's3';
    root: string;
    /** Filesystem: blob pulls over plain HTTP go out with sendfile(2) when the native addon is built. */
    sendfile: boolean;
    /** Present when the driver is s3; prefix is '' or ends in '/'. */
    s3?: {
      bucket: string;
      region: string;
      endpoint?: string;
      publicEndpoint?: string;
      forcePathStyle: boolean;
      prefix: string;
      redirect: boolean;
      redirectExpirySeconds: number;
    };
  };
  readonly manifestMaxBytes: number;
  /** Cache manifest lookups, invalidated by Postgres notifications (the embedded database included). */
  readonly manifestCache: boolean;
  /** The first administrator, created at start-up when no user exists. */
  readonly admin: { username: string; password?: string };
  readonly token: {
    /** PEM of an EC P-256 private key; absent → generated once and kept at `keyFile`. */
    signingKey?: string;
    keyFile: string;
    issuer: string;
    service: string;
    ttlSeconds: number;
    refreshTtlSeconds: number;
    /** Scopes one token request may ask for; more → 400. */
    maxScopes: number;
  };
  readonly loginThrottle: { maxFailures: number; maxFailuresPerAddress: number; windowSeconds: number };
  /** Redis for the job queues; absent → webhook notifications are off. */
  readonly redisUrl?: string;
  /** Run the queue processors (webhook delivery) in this process: the single-process default. */
  readonly runWorkers: boolean;
  /** Key (32 bytes, base64) that encrypts webhook secrets at rest; absent → generated into keyFile. */
  readonly secrets: { key?: string; keyFile: string };
  /** retryBaseMs: the first retry waits about this long; attempt n waits base·2^(n-1), jittered. */
  /** allowPrivateTargets: any address at all; allowPrivateNetworks: RFC 1918 and fc00::/7 (never this host nor metadata services). */
  readonly webhooks: { allowPrivateTargets: boolean; allowPrivateNetworks: boolean; historyDays: number; retryBaseMs: number };
  /**
   * Pull-through caches (proxy namespaces). allowPrivateTargets / allowPrivateNetworks:
   * which upstream addresses are allowed, as for webhooks. timeoutMs: an upstream that
   * sends nothing for this long (headers, or the next bytes of a body) has failed.
   * spoolDir: local files of fills in progress, read by every client the fill serves.
   * mirrorDefaultNamespace: the proxy namespace that serves names in no namespace
   * (dockerd's registry-mirrors asks for `library/alpine` as it is).
   */
  readonly proxy: {
    allowPrivateTargets: boolean;
    allowPrivateNetworks: boolean;
    timeoutMs: number;
    spoolDir: string;
    mirrorDefaultNamespace?: string;
  };
  /**
   * Garbage collection and the upload purge. Schedules are cron patterns (UTC), null when
   * `off`. Links and manifests seen within reviewDelaySeconds are never collected.
   */
  readonly gc: {
    schedule: string | null;
    deleteUntagged: boolean;
    reviewDelaySeconds: number;
    uploadPurgeSchedule: string | null;
    uploadMaxAgeSeconds: number;
  };
  /** Upload sessions open at once (not yet completed, cancelled or purged) per account and per namespace. */
  readonly uploads: { maxSessionsPerAccount: number; maxSessionsPerNamespace: number };
  /** Bearer token /metrics requires; absent → /metrics is public. */
  readonly metricsToken?: string;
  /** Refuse every change to registry content (pushes, deletes); reads and accounts keep working. */
  readonly readOnly: boolean;
  /** A system administrator's push into a missing namespace creates it (an organisation they own) instead of being refused. */
  readonly autoCreateNamespaces: boolean;
  /** PEM files: present → the registry serves HTTPS itself. */
  readonly tls?: { certFile: string; keyFile: string };
  /** On SIGTERM, how long in-flight requests may take before the process exits anyway. */
  readonly shutdownTimeoutSeconds: number;
  /**
   * Request bodies. idleTimeoutSeconds: a body that sends nothing for this long is cut
   * (an upload, however long, is never cut while it keeps sending). deadlineSeconds:
   * bodies read before authentication (/auth/token, /api), and what remains of any body
   * once its response is sent, must arrive whole within this long.
   */
  readonly body: { idleTimeoutSeconds: number; deadlineSeconds: number };
  /**
   * Which proxies in front may name the client in X-Forwarded-For (Express's `trust proxy`):
   * a hop count or addresses/subnets; false → the peer address is the client.
   */
  readonly trustProxy: number | string[] | false;

  constructor(env: Environment) {
    const parsed = environmentSchema.safeParse(env);
    if (!parsed.success) {
      throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
    }
    const e = parsed.data;
    if (Boolean(e.TLS_CERT) !== Boolean(e.TLS_KEY)) {
      throw new ConfigError([`${e.TLS_CERT ? 'TLS_KEY' : 'TLS_CERT'}: TLS_CERT and TLS_KEY go together: set both (HTTPS) or neither (HTTP)`]);
    }
    if (e.STORAGE_DRIVER === 's3' && !e.S3_BUCKET) {
      throw new ConfigError(['S3_BUCKET: required when STORAGE_DRIVER=s3']);
    }
    const dataDir = resolve(e.DATA_DIR);
    this.port = e.PORT;
    this.host = e.HOST;
    this.publicUrl = e.PUBLIC_URL?.replace(/\/+$/, '');
    this.logLevel = e.LOG_LEVEL;
    this.dataDir = dataDir;
    this.database = { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, embeddedDir: resolve(dataDir, 'db') };
    this.storage = {
      driver: e.STORAGE_DRIVER,
      root: resolve(e.STORAGE_ROOT ?? resolve(dataDir, 'storage')),
      sendfile: e.STORAGE_SENDFILE === 'true',
      s3:
        e.STORAGE_DRIVER === 's3'
          ? {
              bucket: e.S3_BUCKET!,
              region: e.S3_REGION,
              endpoint: e.S3_ENDPOINT,
              publicEndpoint: e.S3_PUBLIC_ENDPOINT,
              forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
              prefix: e.S3_PREFIX ? `${e.S3_PREFIX}/` : '',
              redirect: e.STORAGE_REDIRECT === 'true',
              redirectExpirySeconds: e.S3_REDIRECT_EXPIRY_SECONDS,
            }
          : undefined,
    };
    this.manifestMaxBytes = e.MANIFEST_MAX_BYTES;
    this.manifestCache = e.MANIFEST_CACHE === 'true';
    this.admin = { username: e.ADMIN_USERNAME, password: e.ADMIN_PASSWORD };
    this.token = {
      signingKey: e.TOKEN_SIGNING_KEY,
      keyFile: resolve(e.TOKEN_SIGNING_KEY_FILE ?? resolve(dataDir, 'token-signing-key.pem')),
      issuer: e.TOKEN_ISSUER,
      service: e.TOKEN_SERVICE,
      ttlSeconds: e.TOKEN_TTL_SECONDS,
      refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      maxScopes: e.TOKEN_MAX_SCOPES,
    };
    this.redisUrl = e.REDIS_URL;
    this.runWorkers = e.RUN_WORKERS === 'true';
    this.secrets = { key: e.SECRETS_KEY, keyFile: resolve(e.SECRETS_KEY_FILE ?? resolve(dataDir, 'secrets.key')) };
    this.webhooks = {
      allowPrivateTargets: e.WEBHOOK_ALLOW_PRIVATE_TARGETS === 'true',
      allowPrivateNetworks: e.WEBHOOK_ALLOW_PRIVATE_NETWORKS === 'true',
      historyDays: e.WEBHOOK_HISTORY_DAYS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
    };
    this.proxy = {
      allowPrivateTargets: e.PROXY_ALLOW_PRIVATE_TARGETS === 'true',
      allowPrivateNetworks: e.PROXY_ALLOW_PRIVATE_NETWORKS === 'true',
      timeoutMs: e.PROXY_UPSTREAM_TIMEOUT_SECONDS * 1000,
      spoolDir: resolve(dataDir, 'proxy-spool'),
      mirrorDefaultNamespace: e.MIRROR_DEFAULT_NAMESPACE,
    };
    this.metricsToken = e.METRICS_TOKEN;
    this.readOnly = e.READ_ONLY === 'true';
    this.autoCreateNamespaces = e.AUTO_CREATE_NAMESPACES === 'true';
    this.tls = e.TLS_CERT && e.TLS_KEY ? { certFile: resolve(e.TLS_CERT), keyFile: resolve(e.TLS_KEY) } : undefined;
    this.shutdownTimeoutSeconds = e.SHUTDOWN_TIMEOUT_SECONDS;
    this.body = { idleTimeoutSeconds: e.BODY_IDLE_TIMEOUT_SECONDS, deadlineSeconds: e.BODY_DEADLINE_SECONDS };
    this.trustProxy = e.TRUST_PROXY;
    this.gc = {
      schedule: e.GC_SCHEDULE.trim() === 'off' ? null : e.GC_SCHEDULE.trim(),
      deleteUntagged: e.GC_DELETE_UNTAGGED === 'true',
      reviewDelaySeconds: e.GC_REVIEW_DELAY_SECONDS,
      uploadPurgeSchedule: e.UPLOAD_PURGE_SCHEDULE.trim() === 'off' ? null : e.UPLOAD_PURGE_SCHEDULE.trim(),
      uploadMaxAgeSeconds: e.UPLOAD_MAX_AGE_SECONDS,
    };
    this.uploads = {
      maxSessionsPerAccount: e.UPLOAD_MAX_SESSIONS_PER_ACCOUNT,
      maxSessionsPerNamespace: e.UPLOAD_MAX_SESSIONS_PER_NAMESPACE,
    };
    this.loginThrottle = {
      maxFailures: e.LOGIN_MAX_FAILURES,
      maxFailuresPerAddress: e.LOGIN_MAX_FAILURES_PER_ADDRESS,
      windowSeconds: e.LOGIN_FAILURE_WINDOW_SECONDS,
    };
  }
}
