import { z } from 'zod';
import { ACCOUNT_NAME_MAX, ACCOUNT_NAME_MIN, ACCOUNT_NAME_PATTERN, PASSWORD_MAX, PASSWORD_MIN } from '../auth.js';
import type { ApiErrorBody } from '../http/api-exception.filter.js';

/*
 * Schemas with an `id` in their metadata become named components of the OpenAPI
 * document (`#/components/schemas/<id>`): the console's generated client names its
 * types after them, so an id, once published, stays. A nullable field is written
 * inline: OpenAPI 3.0's `nullable` means nothing beside a `$ref`, and a nullable enum
 * lists null among its values.
 */

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

/** How answers carry times: JSON's rendering of a Date (ISO 8601, UTC). */
export const timestamp = z.iso.datetime();

export const ROLE_NAMES = ['reader', 'developer', 'maintainer', 'owner'] as const;

export const role = z.enum(ROLE_NAMES).meta({ id: 'Role' });

export const registryAction = z.enum(['pull', 'push', 'delete']).meta({ id: 'RegistryAction' });

export const storageUsage = z
  .object({
    blobBytes: z.number().int().describe('The distinct blobs linked, each counted once however many repositories link it'),
    manifestBytes: z.number().int().describe('The stored manifests (every repository keeps its own copy)'),
    totalBytes: z.number().int(),
  })
  .meta({ id: 'StorageUsage', description: 'Bytes held, deduplicated as quotas count them' });

/** One page of a list: `items` of `page` (1-based), `perPage` at most, out of `total`. */
export function pageOf<T extends z.ZodType>(item: T, id: string) {
  return z
    .object({ items: z.array(item), page: z.number().int(), perPage: z.number().int(), total: z.number().int() })
    .meta({ id });
}

/** A whole list, not paged. */
export function listOf<T extends z.ZodType>(item: T, id: string) {
  return z.object({ items: z.array(item) }).meta({ id });
}

/** The body of every error of the admin API (ApiExceptionFilter's); `errors` names the offending fields of a 400. */
export const apiError = z
  .object({
    statusCode: z.number().int(),
    error: z.string().describe('The name of the status, such as "Not Found"'),
    message: z.string(),
    errors: z
      .array(z.object({ field: z.string().describe('Dotted path of the field; `body` for the whole body'), message: z.string() }))
      .optional()
      .describe('The offending fields of a 400'),
  })
  .meta({ id: 'ApiError' }) satisfies z.ZodType<ApiErrorBody>;
