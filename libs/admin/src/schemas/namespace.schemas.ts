import { z } from 'zod';
import { ROLE_NAMES, accountName, listOf, pageOf, pageQuery, role, searchText, storageUsage, timestamp } from './common.schemas.js';

const visibility = z.enum(['private', 'public']).meta({ id: 'Visibility' });

export const createNamespaceBody = z.strictObject({ name: accountName, visibility: visibility.optional() }).meta({ id: 'CreateNamespaceRequest' });

export const updateNamespaceBody = z.strictObject({ visibility }).meta({ id: 'UpdateNamespaceRequest' });

/** Bytes, up to 2^53 − 1 (about 8 PiB); null removes the quota. */
export const setQuotaBody = z
  .strictObject({ quotaBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable() })
  .meta({ id: 'SetQuotaRequest', description: 'quotaBytes: bytes, up to 2^53 − 1; null removes the quota' });

export const listNamespacesQuery = pageQuery.extend({ q: searchText });

export const setMemberBody = z.strictObject({ role }).meta({ id: 'SetMemberRequest' });

export const namespaceView = z
  .object({
    name: z.string(),
    kind: z.enum(['organization', 'user']).describe('user: the personal namespace of a user'),
    visibility,
    owner: z.string().nullable().describe('The user of a personal namespace; null for an organisation'),
    // OpenAPI 3.0 lets a nullable enum be null only when its list says so.
    role: z
      .enum(ROLE_NAMES)
      .nullable()
      .meta({ enum: [...ROLE_NAMES, null], description: "The caller's role; null when not a member" }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Namespace' });

export const namespacePage = pageOf(namespaceView, 'NamespacePage');

export const namespaceUsage = storageUsage
  .extend({
    namespace: z.string(),
    repositories: z.number().int(),
    quotaBytes: z.number().int().nullable().describe('null: no quota'),
  })
  .meta({ id: 'NamespaceUsage' });

export const memberView = z.object({ username: z.string(), role, createdAt: timestamp }).meta({ id: 'Member' });

export const memberList = listOf(memberView, 'MemberList');
