import { z } from 'zod';
import { accountName, pageQuery, searchText } from './common.schemas.js';

const visibility = z.enum(['private', 'public']);

export const createNamespaceBody = z.strictObject({ name: accountName, visibility: visibility.optional() });

export const updateNamespaceBody = z.strictObject({ visibility });

/** Bytes, up to 2^53 − 1 (about 8 PiB); null removes the quota. */
export const setQuotaBody = z.strictObject({ quotaBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable() });

export const listNamespacesQuery = pageQuery.extend({ q: searchText });

export const setMemberBody = z.strictObject({ role: z.enum(['reader', 'developer', 'maintainer', 'owner']) });
