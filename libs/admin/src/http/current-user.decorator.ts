import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';
import type { Principal, UserIdentity } from '../auth.js';

/** The signed-in user: the access guard has already refused every other kind of caller. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): UserIdentity =>
    ctx.switchToHttp().getRequest<Request & { user: Principal }>().user.identity as UserIdentity,
);
