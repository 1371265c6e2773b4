import { RegistryError } from '@berth/core';

/** Node socket errors of a connection that cannot be made or was lost. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** Postgres SQLSTATEs of a server that is going away or not taking connections. */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
/** pg's own messages when a connection dies or cannot be had in time. */
const CLIENT_MESSAGES = [/^Connection terminated/, /^timeout exceeded when trying to connect/, /^Client has encountered a connection error/];

/**
 * True when `err` says the database cannot be reached (refused, lost, shutting down),
 * not that a query was wrong: the request may succeed when retried later.
 */
export function isDatabaseOutage(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  const { code, message, driverError, cause, errors } = err as Record<string, unknown>;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08'))) return true;
  if (typeof message === 'string' && CLIENT_MESSAGES.some((re) => re.test(message))) return true;
  if (Array.isArray(errors) && errors.some((e) => isDatabaseOutage(e, depth + 1))) return true;
  return isDatabaseOutage(driverError ?? cause, depth + 1);
}

/** Seconds a client is told to wait before retrying during an outage. */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

/** The 503 a client gets while the database is unreachable: it never names the server or its address. */
export function databaseUnavailable(): RegistryError {
  return new RegistryError('UNAVAILABLE', 'the database is unavailable: try again shortly', undefined, {
    'Retry-After': String(OUTAGE_RETRY_AFTER_SECONDS),
  });
}
