import { z } from 'zod';
import { timestamp } from './common.schemas.js';

/*
 * The login route belongs to the auth library, which checks its body itself; these
 * describe it in the OpenAPI document.
 */

export const loginBody = z.object({ username: z.string(), password: z.string() }).meta({ id: 'LoginRequest' });

export const loginToken = z
  .object({
    token: z.string().describe('Send it as `Authorization: Bearer <token>`'),
    expiresIn: z.number().int().describe('Seconds'),
    issuedAt: timestamp,
  })
  .meta({ id: 'LoginToken' });
