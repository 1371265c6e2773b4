import { BadRequestException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiValidationPipe } from './api-validation.pipe.js';

const schema = z.strictObject({ name: z.string().min(2), grants: z.array(z.enum(['pull', 'push'])) });

async function errorsOf(value: unknown): Promise<unknown> {
  try {
    await new ApiValidationPipe().transform(value, { type: 'body', schema });
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestException);
    return (err as BadRequestException).getResponse();
  }
  throw new Error('validation passed');
}

describe('ApiValidationPipe', () => {
  it('names each offending field by its dotted path, and unknown keys by themselves', async () => {
    const response = await errorsOf({ name: 'x', grants: ['pull', 'delete'], extra: true });
    expect(response).toMatchObject({
      errors: [
        { field: 'name', message: expect.any(String) },
        { field: 'grants.1', message: expect.any(String) },
        { field: 'extra', message: expect.any(String) },
      ],
    });
    expect((response as { message: string }).message).toContain('grants.1');
  });

  it('calls a missing or non-object body `body`', async () => {
    expect(await errorsOf(undefined)).toMatchObject({ errors: [{ field: 'body' }] });
  });

  it('returns the parsed value', async () => {
    expect(await new ApiValidationPipe().transform({ name: 'ok', grants: [] }, { type: 'body', schema })).toEqual({ name: 'ok', grants: [] });
  });
});
