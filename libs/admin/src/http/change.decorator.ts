import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';
import type { ChangeContext, Principal } from '../auth.js';

/** The caller and their address, for the audit entry of the change the route makes. */
export const Change = createParamDecorator((_data: unknown, ctx: ExecutionContext): ChangeContext => {
  const req = ctx.switchToHttp().getRequest<Request & { user: Principal }>();
  return { actor: req.user.identity, clientAddr: req.ip };
});
