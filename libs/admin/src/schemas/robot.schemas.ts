import { z } from 'zod';
import { accountName } from './common.schemas.js';

export const createRobotBody = z.strictObject({
  name: accountName,
  description: z.string().max(1000).nullable().optional(),
  actions: z.array(z.enum(['pull', 'push', 'delete'])).min(1),
  /** Names or globs (`team/app-*`) inside the namespace; null or absent for all of them. */
  repositories: z.array(z.string().min(1).max(255)).min(1).max(100).nullable().optional(),
  expiresAt: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .nullable()
    .optional(),
});
