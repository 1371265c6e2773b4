import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { REGISTRY_ACCESS } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { RegistryError } from '@berth/core';
import { PullThroughHooks } from '../services/pull-through.js';

const CHANGES_CONTENT = 'berth:changes-content';
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PUSH_METHODS = new Set(['POST', 'PUT', 'PATCH']);

type ContentChange = (req: Request) => boolean;

/**
 * Marks a route outside /v2 that changes registry content (deletes repositories or tags),
 * so that read-only mode refuses it; `when` narrows it to some requests (e.g. `force=true`).
 */
export const ChangesContent = (when: ContentChange = () => true) => SetMetadata(CHANGES_CONTENT, when);

/**
 * READ_ONLY=true: every write under /v2 and every route marked ChangesContent answers
 * 405 UNSUPPORTED once the caller is authenticated (an anonymous write still meets the
 * 401 challenge, as docker expects before any write); reads, tokens and account
 * management keep working. Pushes into a proxy namespace (a pull-through cache) are
 * refused the same way at any time; deleting cached content there is allowed (it evicts).
 */
@Injectable()
export class ReadOnlyGuard implements CanActivate {
  constructor(
    private readonly config: BerthConfig,
    private readonly reflector: Reflector,
    private readonly pullThrough: PullThroughHooks,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const registryRoute = this.reflector.getAllAndOverride(REGISTRY_ACCESS, [context.getHandler(), context.getClass()]) !== undefined;
    if (registryRoute && PUSH_METHODS.has(req.method) && typeof req.params.name === 'string' && this.pullThrough.covering(req.params.name)) {
      throw new RegistryError('UNSUPPORTED', `${req.params.name.split('/')[0]} is a pull-through cache of an upstream registry: it takes no pushes`);
    }
    if (!this.config.readOnly) return true;
    const changesContent = this.reflector.get<ContentChange | undefined>(CHANGES_CONTENT, context.getHandler());
    if ((registryRoute && WRITE_METHODS.has(req.method)) || changesContent?.(req)) {
      throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode');
    }
    return true;
  }
}
