import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { RegistryError } from '@berth/core';
import { databaseUnavailable, isDatabaseOutage } from '@berth/database';
import { statusName } from './status-name.js';

/** One error body for the whole admin API; `errors` lists the offending fields of a 400. */
export interface ApiErrorBody {
  statusCode: number;
  error: string;
  message: string;
  errors?: { field: string; message: string }[];
}

/**
 * Renders /api errors as JSON `{statusCode, error, message, errors?}` (the /v2 filter
 * speaks the distribution spec's format, which REST clients do not expect).
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('AdminApi');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (isDatabaseOutage(exception)) {
      this.logger.warn(`database unavailable: ${exception instanceof Error ? exception.message : String(exception)}`);
      exception = databaseUnavailable();
    }
    // The global guard speaks in RegistryErrors (401 with its challenge, 403, 429, 503).
    if (exception instanceof RegistryError && exception.headers) res.set(exception.headers);
    const body = this.toBody(exception);
    res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ApiErrorBody {
    if (exception instanceof RegistryError && (exception.status < 500 || exception.code === 'UNAVAILABLE')) {
      return { statusCode: exception.status, error: statusName(exception.status), message: exception.message };
    }
    if (!(exception instanceof HttpException)) {
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
      return { statusCode: 500, error: 'Internal Server Error', message: 'internal server error' };
    }
    const statusCode = exception.getStatus();
    const response = exception.getResponse();
    const error = statusName(statusCode);
    if (typeof response === 'string') return { statusCode, error, message: response };
    const { message, errors } = response as { message?: unknown; errors?: ApiErrorBody['errors'] };
    return {
      statusCode,
      error,
      message: Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : exception.message,
      ...(errors ? { errors } : {}),
    };
  }
}
