import { z } from 'zod';
import { pageOf, timestamp } from './common.schemas.js';

export const startGcBody = z
  .object({
    /** Report what would go, change nothing. */
    dryRun: z.boolean().default(false),
    /** Also collect manifests no tag, index or kept subject holds. */
    deleteUntagged: z.boolean().default(false),
  })
  .strict()
  .meta({ id: 'StartGcRequest', description: 'dryRun: report what would go, change nothing; deleteUntagged: also collect manifests no tag, index or kept subject holds' });

export const gcRunParam = z.string().regex(/^[0-9]{1,18}$/, 'must be a run id');

export const gcRun = z
  .object({
    id: z.string(),
    status: z.enum(['running', 'succeeded', 'failed']),
    trigger: z.enum(['api', 'cli', 'schedule']),
    dryRun: z.boolean(),
    deleteUntagged: z.boolean(),
    requestedBy: z.string().nullable(),
    startedAt: timestamp,
    finishedAt: timestamp.nullable(),
    manifestsDeleted: z.number().int(),
    linksDeleted: z.number().int(),
    blobsDeleted: z.number().int(),
    orphanFilesDeleted: z.number().int(),
    bytesFreed: z.number().int(),
    error: z.string().nullable(),
    sample: z.object({ manifests: z.array(z.string()), blobs: z.array(z.string()) }).nullable().describe('Some of the digests that went (or would go)'),
  })
  .meta({ id: 'GcRun' });

export const gcRunPage = pageOf(gcRun, 'GcRunPage');
