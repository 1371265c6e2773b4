import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { RegistryError } from '@berth/core';
import { databaseUnavailable, isDatabaseOutage } from '@berth/database';

/** Renders every error as the distribution spec's `{"errors":[…]}` body with the code's status. */
@Catch()
export class RegistryExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Registry');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    try {
      // A client that went away mid-request is not a server error: nothing to answer, nothing to log.
      // The response's socket decides: a request stream destroyed early (a refused body) has none left.
      const socket = res.socket ?? req.socket;
      if (res.headersSent || res.destroyed || socket?.destroyed) {
        res.destroy();
        return;
      }
      const error = this.toRegistryError(exception);
      const body = JSON.stringify(error.toBody());
      res.writeHead(error.status, { ...error.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    } catch (err) {
      // Never let Express's own handler answer (an HTML page with a stack trace).
      this.logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      res.destroy();
    }
  }

  private toRegistryError(exception: unknown): RegistryError {
    if (exception instanceof RegistryError) return exception;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === 404) return new RegistryError('NOT_FOUND');
      if (status === 405) return new RegistryError('UNSUPPORTED');
      if (status === 413) return new RegistryError('MANIFEST_TOO_LARGE', exception.message);
      if (status < 500) return new RegistryError('BAD_REQUEST', exception.message);
    }
    if (isDatabaseOutage(exception)) {
      this.logger.warn(`database unavailable: ${exception instanceof Error ? exception.message : String(exception)}`);
      return databaseUnavailable();
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return new RegistryError('UNKNOWN');
  }
}
