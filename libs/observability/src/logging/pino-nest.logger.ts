import type { LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';
import { REDACTED } from './logger.js';

/**
 * Nest's own log calls (`new Logger('Context').warn(…)`, framework messages) as
 * pino JSON lines. Nest passes the context as the last argument and, for errors,
 * a stack before it.
 */
export class PinoNestLogger implements LoggerService {
  private readonly logger: Logger;

  /** Objects logged through Nest may nest a secret anywhere one level down: redacted there too. */
  constructor(logger: Logger) {
    this.logger = logger.child({}, { redact: { paths: [...REDACTED, ...REDACTED.map((path) => `*.${path}`)], censor: '[redacted]' } });
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = params.filter((p) => p !== undefined);
    if (rest.length && typeof rest[rest.length - 1] === 'string') fields.context = rest.pop();
    const extra: unknown[] = [];
    for (const param of rest) {
      if (param instanceof Error) fields.err = param;
      else if (typeof param === 'string' && param.includes('\n    at ')) fields.stack = param;
      else extra.push(param);
    }
    if (extra.length) fields.params = extra;
    if (message instanceof Error) {
      fields.err = message;
      this.logger[level](fields, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ ...message, ...fields });
    } else {
      this.logger[level](fields, String(message));
    }
  }
}
