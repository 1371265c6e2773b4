import type { NextFunction, Request, Response } from 'express';
import type { ApiErrorBody } from './api-exception.filter.js';
import { statusName } from './status-name.js';

interface BodyParserError {
  status?: number;
  type?: string;
  message?: string;
}

/**
 * Express error handler for `express.json()` under /api: a malformed or oversized body
 * fails before Nest routes the request, so Nest's filters never see it. Register it
 * right after the parser.
 */
export function apiBodyErrorHandler(err: BodyParserError, _req: Request, res: Response, next: NextFunction): void {
  const status = err?.status;
  if (!status || status >= 500 || res.headersSent) {
    next(err);
    return;
  }
  const message = err.type === 'entity.parse.failed' ? 'the request body is not valid JSON' : (err.message ?? statusName(status));
  const body: ApiErrorBody = { statusCode: status, error: statusName(status), message };
  res.status(status).json(body);
}
