import type { NextFunction, Request, Response } from 'express';

interface BodyParserError {
  status?: number;
  type?: string;
  charset?: string;
}

/**
 * Express error handler for the token endpoint's form parser (register it right after
 * `express.urlencoded()`): the form fails before Nest routes the request, and its
 * problems are told in the OAuth2 error format the endpoint answers with.
 */
export function tokenFormErrorHandler(err: BodyParserError, _req: Request, res: Response, next: NextFunction): void {
  const status = err?.status;
  if (!status || status >= 500 || res.headersSent) {
    next(err);
    return;
  }
  res.setHeader('Cache-Control', 'no-store');
  res.status(status).json({ error: 'invalid_request', error_description: describe(err, status) });
}

function describe(err: BodyParserError, status: number): string {
  if (err.type === 'charset.unsupported') {
    return `unsupported charset ${JSON.stringify(String(err.charset ?? '').slice(0, 40))}: send the form as application/x-www-form-urlencoded in UTF-8`;
  }
  if (err.type === 'encoding.unsupported') return 'unsupported Content-Encoding: send the form uncompressed';
  if (status === 413) return 'the form is too large';
  return 'the form body is malformed';
}
