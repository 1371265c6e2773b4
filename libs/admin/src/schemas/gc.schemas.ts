import { z } from 'zod';

export const startGcBody = z
  .object({
    /** Report what would go, change nothing. */
    dryRun: z.boolean().default(false),
    /** Also collect manifests no tag, index or kept subject holds. */
    deleteUntagged: z.boolean().default(false),
  })
  .strict();

export const gcRunParam = z.string().regex(/^[0-9]{1,18}$/, 'must be a run id');
