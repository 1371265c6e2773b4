import { z } from 'zod';
import { ACCOUNT_NAME_MAX, ACCOUNT_NAME_MIN, ACCOUNT_NAME_PATTERN, PASSWORD_MAX, PASSWORD_MIN } from '../auth.js';

export const accountName = z
  .string()
  .min(ACCOUNT_NAME_MIN)
  .max(ACCOUNT_NAME_MAX)
  .regex(ACCOUNT_NAME_PATTERN, 'must be lowercase letters and digits, separated by ".", "_", "__" or "-"');

export const password = z.string().min(PASSWORD_MIN).max(PASSWORD_MAX);

export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  perPage: z.coerce.number().int().min(1).max(100).default(20),
});

/** A search string: matches anywhere in the name. */
export const searchText = z.string().max(255).optional();

/** Whether a request asks for `force=true` (before validation: read-only mode decides on it). */
export const forced = (req: { query: unknown }) => (req.query as Record<string, unknown>).force === 'true';

/** `?force=true` also deletes what a namespace or user still holds. */
export const forceQuery = z.object({
  force: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});
