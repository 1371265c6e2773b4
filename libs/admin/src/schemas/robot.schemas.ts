import { z } from 'zod';
import { accountName, listOf, registryAction, timestamp } from './common.schemas.js';

export const createRobotBody = z
  .strictObject({
    name: accountName,
    description: z.string().max(1000).nullable().optional(),
    actions: z.array(registryAction).min(1),
    repositories: z
      .array(z.string().min(1).max(255))
      .min(1)
      .max(100)
      .nullable()
      .optional()
      .describe('Names or globs (team/app-*) inside the namespace; null or absent for all of them'),
    expiresAt: z.iso
      .datetime({ offset: true })
      .transform((s) => new Date(s))
      .nullable()
      .optional(),
  })
  .meta({ id: 'CreateRobotRequest' });

/** A robot account as the API shows it: never its secret nor the secret's hash. */
export const robotView = z
  .object({
    name: z.string(),
    username: z.string().describe('The login name, <namespace>+<name>'),
    namespace: z.string(),
    description: z.string().nullable(),
    actions: z.array(registryAction),
    repositories: z.array(z.string()).nullable(),
    expiresAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
    status: z.enum(['active', 'expired', 'revoked']),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Robot' });

export const robotList = listOf(robotView, 'RobotList');

/** The answer to create and rotate: the only times the secret is shown. */
export const robotWithSecret = z
  .object({ robot: robotView, secret: z.string().describe('Shown this once') })
  .meta({ id: 'RobotWithSecret' });
