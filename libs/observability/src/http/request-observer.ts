import { Inject, Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Level, Logger } from 'pino';
import { type Principal, attemptedLoginOf } from '@berth/auth';
import { bytesSentByFile } from '@berth/storage';
import { HttpMetrics } from '../metrics/http-metrics.js';
import { acceptedRequestId, setRequestId } from './request-id.js';

export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/** Probes and scrapes arrive every few seconds: their lines are debug, not info. */
const QUIET_PATHS = /^\/(?:health\/|metrics(?:$|\?))/;
/** Requests carrying a blob upload body (POST `?digest=`, PATCH, PUT). */
const UPLOAD_PATH = /^\/v2\/.+\/blobs\/uploads\//;
/** A route that matched nothing (404 before any handler). */
const UNMATCHED = 'unmatched';
/** Status recorded for a request whose client went away before any response was sent (nginx's convention). */
const CLIENT_CLOSED = 499;
/** Caller-chosen strings are cut to these lengths in a line. */
const USER_AGENT_MAX = 256;
const USERNAME_MAX = 150;

/**
 * The first middleware of the registry: gives each request its id (a valid incoming
 * `X-Request-Id`, else a new UUID) and echoes it, then when the response ends
 * records the HTTP metrics and writes one log line with the id, the route, the
 * status, the duration, the bytes, the authenticated user (or the username of a
 * failed login), the repository, the client address and the user agent.
 * Per request it costs one closure and a few property reads; the line is built
 * only when its level is enabled, and headers are never logged.
 */
@Injectable()
export class RequestObserver {
  constructor(
    @Inject(ROOT_LOGGER) private readonly logger: Logger,
    private readonly metrics: HttpMetrics,
  ) {}

  readonly handle = (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    const id = acceptedRequestId(req.headers['x-request-id']) ?? randomUUID();
    setRequestId(req, id);
    res.setHeader('X-Request-Id', id);
    const socket = req.socket;
    const readBefore = socket.bytesRead;
    // sendfile(2) bypasses bytesWritten: blob pulls count those bytes separately.
    const writtenBefore = socket.bytesWritten + bytesSentByFile(socket);
    const upload = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'DELETE' && UPLOAD_PATH.test(req.url) && hasBody(req);
    if (upload) this.metrics.uploadStarted();
    res.once('close', () => {
      if (upload) this.metrics.uploadEnded();
      const completed = res.writableFinished;
      const status = completed || res.headersSent ? res.statusCode : CLIENT_CLOSED;
      const route: string = req.route?.path ?? UNMATCHED;
      const milliseconds = performance.now() - started;
      const bytesIn = receivedBytes(req, socket.bytesRead - readBefore);
      const bytesOut = socket.bytesWritten + bytesSentByFile(socket) - writtenBefore;
      this.metrics.observe(req.method, route, status, milliseconds / 1000, bytesIn, bytesOut);
      const level: Level = QUIET_PATHS.test(req.originalUrl) ? 'debug' : status >= 500 ? 'error' : 'info';
      if (!this.logger.isLevelEnabled(level)) return;
      const identity = (req as Request & { user?: Principal }).user?.identity;
      const user = identity && identity.kind !== 'anonymous' ? identity.username : undefined;
      const repository = req.originalUrl.startsWith('/v2/') ? req.params?.name : undefined;
      const agent = req.headers['user-agent'];
      this.logger[level](
        {
          requestId: id,
          method: req.method,
          url: loggedUrl(req.originalUrl),
          route,
          status,
          outcome: completed ? outcomeOf(status) : 'aborted',
          durationMs: Math.round(milliseconds * 10) / 10,
          bytesIn,
          bytesOut,
          user,
          // A login that did not succeed: whom it claimed to be (the password is never kept).
          attemptedUser: user === undefined ? attemptedLoginOf(req)?.slice(0, USERNAME_MAX) : undefined,
          repository: typeof repository === 'string' ? repository : undefined,
          clientAddr: req.ip,
          userAgent: agent?.slice(0, USER_AGENT_MAX),
        },
        completed ? 'request completed' : 'request aborted',
      );
    });
    next();
  };
}

/**
 * A body received whole counts its Content-Length. A chunked or cut-off body counts
 * what the connection read while the request ran, which misses the part that came
 * in the same packet as the headers (read before this middleware).
 */
function receivedBytes(req: Request, socketDelta: number): number {
  const declared = req.headers['content-length'];
  return req.complete && declared !== undefined ? Number(declared) : socketDelta;
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function outcomeOf(status: number): 'success' | 'client_error' | 'server_error' {
  return status >= 500 ? 'server_error' : status >= 400 ? 'client_error' : 'success';
}

/** The token endpoint's query carries account names and scopes; it is left out, as is any query under /auth. */
function loggedUrl(url: string): string {
  if (!url.startsWith('/auth/')) return url;
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
