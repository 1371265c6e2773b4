import { z } from 'zod';
import { ROLE_NAMES, accountName, listOf, pageOf, pageQuery, role, searchText, storageUsage, timestamp } from './common.schemas.js';

const visibility = z.enum(['private', 'public']).meta({ id: 'Visibility' });

const secret = (max: number) => z.string().min(1).max(max).nullable().optional();

/** A proxy namespace's upstream registry; secrets are write-only (null removes one, leaving it out keeps it). */
const upstreamFields = {
  url: z.string().max(2048).describe('The upstream registry\'s base URL, e.g. https://registry-1.docker.io'),
  pathPrefix: z.string().max(255).nullable().optional().describe('Prepended to the name under the namespace (e.g. library); on Docker Hub a one-component name gets library/'),
  username: z.string().min(1).max(255).nullable().optional(),
  password: secret(4096).describe('Stored encrypted (SECRETS_KEY), never shown again'),
  token: secret(8192).describe('Sent as a Bearer token instead of the token flow; stored encrypted, never shown again'),
  insecure: z.boolean().optional().describe('Accept any TLS certificate from the upstream'),
  caBundle: z.string().max(60_000).nullable().optional().describe('PEM certificates the upstream\'s certificate must chain to'),
  tagTtlSeconds: z.number().int().min(0).max(31_536_000).optional().describe('How long a cached tag is trusted before asking upstream again (default 300)'),
};
const upstreamInput = z.strictObject(upstreamFields).meta({ id: 'UpstreamRequest' });
const upstreamPatch = z.strictObject({ ...upstreamFields, url: upstreamFields.url.optional() }).meta({ id: 'UpstreamUpdate' });

export const createNamespaceBody = z
  .strictObject({
    name: accountName,
    visibility: visibility.optional(),
    kind: z.enum(['organization', 'proxy']).optional().describe('proxy: a pull-through cache of `upstream` (default organization)'),
    upstream: upstreamInput.optional(),
  })
  .refine((b) => (b.kind === 'proxy') === (b.upstream !== undefined), { message: 'upstream is required for kind proxy, and only for it', path: ['upstream'] })
  .meta({ id: 'CreateNamespaceRequest' });

export const updateNamespaceBody = z
  .strictObject({ visibility: visibility.optional(), upstream: upstreamPatch.optional().describe('Proxy namespaces only') })
  .refine((b) => b.visibility !== undefined || b.upstream !== undefined, { message: 'give visibility or upstream' })
  .meta({ id: 'UpdateNamespaceRequest' });

const upstreamView = z
  .object({
    url: z.string(),
    pathPrefix: z.string().nullable(),
    username: z.string().nullable(),
    hasPassword: z.boolean(),
    hasToken: z.boolean(),
    insecure: z.boolean(),
    hasCaBundle: z.boolean(),
    tagTtlSeconds: z.number().int(),
    health: z
      .object({ lastSuccessAt: timestamp.nullable(), lastErrorAt: timestamp.nullable(), lastError: z.string().nullable() })
      .describe('What the replicas last saw of the upstream (written at most every 30 s while unchanged)'),
  })
  .meta({ id: 'Upstream' });

/** Bytes, up to 2^53 − 1 (about 8 PiB); null removes the quota. */
export const setQuotaBody = z
  .strictObject({ quotaBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable() })
  .meta({ id: 'SetQuotaRequest', description: 'quotaBytes: bytes, up to 2^53 − 1; null removes the quota' });

export const listNamespacesQuery = pageQuery.extend({ q: searchText });

export const setMemberBody = z.strictObject({ role }).meta({ id: 'SetMemberRequest' });

export const namespaceView = z
  .object({
    name: z.string(),
    kind: z.enum(['organization', 'user', 'proxy']).describe('user: the personal namespace of a user; proxy: a pull-through cache'),
    visibility,
    owner: z.string().nullable().describe('The user of a personal namespace; null for an organisation'),
    // OpenAPI 3.0 lets a nullable enum be null only when its list says so.
    role: z
      .enum(ROLE_NAMES)
      .nullable()
      .meta({ enum: [...ROLE_NAMES, null], description: "The caller's role; null when not a member" }),
    createdAt: timestamp,
    updatedAt: timestamp,
    upstream: upstreamView.optional().describe('Proxy namespaces: the upstream (in single-namespace answers)'),
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
