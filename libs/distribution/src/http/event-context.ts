import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import type { Principal } from '@berth/auth';
import type { EventContext } from '@berth/notifications';
import { requestIdOf } from '@berth/observability';

/** The request facts registry events report: who, from where, through which request. */
export const RequestEventContext = createParamDecorator((_data: unknown, ctx: ExecutionContext): EventContext => {
  const req = ctx.switchToHttp().getRequest<Request & { user?: Principal }>();
  const identity = req.user?.identity;
  return {
    // The id the request is logged under and echoed with (X-Request-Id).
    requestId: requestIdOf(req) ?? randomUUID(),
    addr: clientAddress(req),
    host: req.headers.host ?? '',
    method: req.method,
    userAgent: req.headers['user-agent'] ?? '',
    actor: identity && identity.kind !== 'anonymous' ? identity.username : undefined,
  };
});

/** `ip:port` of the peer; behind a trusted proxy (TRUST_PROXY), the client's address it forwarded, whose port it does not tell. */
function clientAddress(req: Request): string {
  const peer = req.socket.remoteAddress;
  if (req.ip && req.ip !== peer) return req.ip;
  return peer ? `${peer}:${req.socket.remotePort}` : '';
}
