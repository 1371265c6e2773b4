import { hostname } from 'node:os';
import { type DestinationStream, type Level, type Logger, pino } from 'pino';
import type { BerthConfig } from '@berth/config';

/** LOG_LEVEL speaks Nest's names; pino's differ for two of them. */
const PINO_LEVELS: Record<BerthConfig['logLevel'], Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * Fields that must never reach a log line: credentials in headers and anything named
 * like a secret, at the top of a logged object or in its `headers`. (Wildcard paths
 * make pino walk every logged object, about 18 µs a line: only Nest's own messages,
 * off the request path, get them, see PinoNestLogger.)
 */
export const REDACTED = ['password', 'secret', 'token', 'refresh_token', 'headers.authorization', 'headers.cookie', 'headers["set-cookie"]'];

/**
 * The process's one JSON logger: a line per entry on stdout (or `destination`),
 * level names rather than numbers and ISO times, so a person can read it too.
 */
export function createLogger(config: Pick<BerthConfig, 'logLevel'>, service: string, destination?: DestinationStream): Logger {
  const options = {
    level: PINO_LEVELS[config.logLevel],
    base: { service, pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: REDACTED, censor: '[redacted]' },
  };
  // Asynchronous writes: lines logged while a write is under way go out together in the
  // next one (one write per request cost a fifth of a busy registry's time). What is
  // still buffered is written when the process exits, even on a crash; not on SIGKILL.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
