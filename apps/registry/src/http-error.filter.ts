import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Request } from 'express';
import { ApiExceptionFilter } from '@berth/admin';
import { RegistryExceptionFilter } from '@berth/distribution';

/**
 * Errors in the format each client expects: the admin API's JSON under /api, the
 * distribution spec's `{"errors":[…]}` everywhere else (/v2 and the token endpoint).
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly api = new ApiExceptionFilter();
  private readonly registry = new RegistryExceptionFilter();

  catch(exception: unknown, host: ArgumentsHost): void {
    const path = host.switchToHttp().getRequest<Request>().path;
    (path.startsWith('/api/') ? this.api : this.registry).catch(exception, host);
  }
}
