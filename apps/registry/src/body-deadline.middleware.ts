import { Logger } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requestIdOf } from '@berth/observability';

export interface BodyDeadlineOptions {
  /** A body that sends nothing for this long (while the registry would take more) is cut. */
  idleMs: number;
  /** Pre-authentication bodies, and what remains of any body once its response is sent, must arrive within this long. */
  deadlineMs: number;
  /** Paths whose bodies are read before the caller is authenticated (the token endpoint, the admin API). */
  preAuthenticated: RegExp;
}

/**
 * Time limits on request bodies, which Node leaves unbounded once `requestTimeout` is
 * off (it is: a large layer over a slow link takes longer than any fixed limit).
 *
 * - A body read before authentication (login forms, the admin API's JSON) must arrive
 *   whole within `deadlineMs`, else 408 and the connection is closed: a caller with no
 *   credentials cannot hold a connection by trickling a byte at a time.
 * - Any body that goes idle for `idleMs` is cut, as if the client had gone: an upload
 *   is then a cut-off PATCH, of which nothing counts (the client retries the chunk). A body that keeps sending is
 *   never cut however long it takes, and time spent waiting on the registry (the
 *   request's buffer full because storage is slow) is not idleness.
 * - Once the response is sent (a 401 before the body was read, say), Node drains the
 *   rest of the body to reuse the connection: that rest gets `deadlineMs`.
 *
 * Per body-carrying request: one timer, checked a few times per idle period.
 */
export function bodyDeadlines(options: BodyDeadlineOptions): RequestHandler {
  const logger = new Logger('Http');
  const period = Math.min(1000, Math.max(50, Math.floor(options.idleMs / 10)));
  return (req: Request, res: Response, next: NextFunction) => {
    if (!hasBody(req) || req.complete) return next();
    const socket = req.socket;
    const started = Date.now();
    let deadline = options.preAuthenticated.test(req.path) ? started + options.deadlineMs : Infinity;
    let lastRead = socket.bytesRead;
    let lastActive = started;
    const stop = () => clearInterval(timer);
    const cut = (reason: string) => {
      stop();
      logger.warn(`request ${requestIdOf(req) ?? ''} ${req.method} ${req.path.slice(0, 200)}: body ${reason}, connection closed`);
      if (res.headersSent) {
        socket.destroy();
        return;
      }
      // Written to the socket, as Node's own request timeout does: through `res`, the
      // request would count as answered and its reader (a body parser, an upload) would
      // never learn that the body stopped. Closing the socket aborts the request instead.
      const body = JSON.stringify(timeoutBody(req.path, `the request body did not arrive in time (${reason})`));
      socket.end(
        `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        () => socket.destroy(),
      );
    };
    const timer = setInterval(() => {
      if (req.complete || socket.destroyed) return stop();
      const now = Date.now();
      // New bytes, or the registry itself not reading yet (the buffer is full): not the client's stall.
      if (socket.bytesRead !== lastRead || req.readableLength >= req.readableHighWaterMark) {
        lastRead = socket.bytesRead;
        lastActive = now;
      }
      if (now >= deadline) cut(`not complete within ${options.deadlineMs / 1000} s`);
      else if (now - lastActive >= options.idleMs) cut(`idle for ${options.idleMs / 1000} s`);
    }, period);
    timer.unref();
    // On the request, not the socket: a keep-alive socket carries many requests, and a
    // listener per request would pile up on it (and keep each request alive).
    req.once('end', stop);
    req.once('close', stop);
    res.once('finish', () => {
      if (!req.complete) deadline = Math.min(deadline, Date.now() + options.deadlineMs);
    });
    next();
  };
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** In the error shape of the route: OAuth2's for the token endpoint, the admin API's elsewhere. */
function timeoutBody(path: string, message: string): Record<string, unknown> {
  return path.startsWith('/auth/')
    ? { error: 'invalid_request', error_description: message }
    : { statusCode: 408, error: 'Request Timeout', message };
}
