import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RegistryError } from '@berth/core';
import { AccessGuard } from './access.guard.js';

/** A handler with no metadata at all: neither @Public nor @RegistryAccess. */
function contextFor(path: string): ExecutionContext {
  const handler = () => undefined;
  class Undeclared {}
  return {
    getHandler: () => handler,
    getClass: () => Undeclared,
    switchToHttp: () => ({ getRequest: () => ({ path, headers: {} }) }),
  } as unknown as ExecutionContext;
}

describe('AccessGuard', () => {
  it('refuses a /v2 handler that declares no registry access, before looking at credentials', async () => {
    // Nothing past the metadata check is reached: the collaborators are never used.
    const guard = new (AccessGuard as any)(new Reflector(), {}, {}, {}, {}, {}) as AccessGuard;
    const refused = await guard.canActivate(contextFor('/v2/team/app/new-route')).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RegistryError);
    expect((refused as RegistryError).code).toBe('DENIED');
  });
});
