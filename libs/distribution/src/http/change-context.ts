import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';
import { ANONYMOUS, type ChangeContext, type Principal } from '@berth/auth';

/** The caller and their address (as the admin API records them), for the audit entry of a /v2 delete. */
export const RequestChangeContext = createParamDecorator((_data: unknown, ctx: ExecutionContext): ChangeContext => {
  const req = ctx.switchToHttp().getRequest<Request & { user?: Principal }>();
  return { actor: req.user?.identity ?? ANONYMOUS, clientAddr: req.ip };
});
