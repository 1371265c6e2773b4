import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Operation } from './operation.decorator.js';

const answer = z.object({ at: z.iso.datetime(), count: z.number().int() });

/* The @ts-expect-error lines are the test: `tsc --noEmit` fails once a mismatch compiles. */
class Handlers {
  @Operation({ id: 'matching', summary: 'A Date goes out as the string the schema says', status: 200, answer })
  async matching() {
    return { at: new Date(), count: 1 };
  }

  // @ts-expect-error a field the schema does not describe (a secret, say)
  @Operation({ id: 'extra', summary: 'More than the schema', status: 200, answer })
  extra() {
    return { at: new Date(), count: 1, secret: 'x' };
  }

  // @ts-expect-error a field the schema requires is missing
  @Operation({ id: 'missing', summary: 'Less than the schema', status: 200, answer })
  missing() {
    return { at: new Date() };
  }

  // @ts-expect-error a body where the operation documents none
  @Operation({ id: 'unexpected', summary: 'A body on a 204', status: 204 })
  unexpected() {
    return { count: 1 };
  }

  @Operation({ id: 'picks', summary: 'Added or changed', status: [200, 201], answer })
  picks() {
    return { at: '2026-01-01T00:00:00.000Z', count: 2 };
  }
}

describe('Operation', () => {
  it('sets the route status, the first of several', () => {
    expect(Reflect.getMetadata(HTTP_CODE_METADATA, Handlers.prototype.unexpected)).toBe(204);
    expect(Reflect.getMetadata(HTTP_CODE_METADATA, Handlers.prototype.picks)).toBe(200);
    expect(Reflect.getMetadata(HTTP_CODE_METADATA, Handlers.prototype.matching)).toBe(200);
  });
});
