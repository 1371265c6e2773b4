import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { RegistryError } from '@berth/core';

/** Renders every error as the distribution spec's `{"errors":[…]}` body with the code's status. */
@Catch()
export class RegistryExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Registry');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const error = this.toRegistryError(exception);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = JSON.stringify(error.toBody());
    res.writeHead(error.status, { ...error.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private toRegistryError(exception: unknown): RegistryError {
    if (exception instanceof RegistryError) return exception;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === 404) return new RegistryError('NOT_FOUND');
      if (status === 405) return new RegistryError('UNSUPPORTED');
      if (status === 413) return new RegistryError('SIZE_INVALID', exception.message);
      if (status < 500) return new RegistryError('UNSUPPORTED', exception.message);
    }
    this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    return new RegistryError('UNKNOWN');
  }
}
