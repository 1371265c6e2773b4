import { z } from 'zod';
import { accountName, pageOf, pageQuery, searchText, storageUsage, timestamp } from './common.schemas.js';

export const listRepositoriesQuery = pageQuery.extend({ q: searchText, namespace: accountName.optional() });

export const repositorySummary = z
  .object({
    name: z.string(),
    namespace: z.string(),
    tagCount: z.number().int(),
    size: z.number().int().describe('Bytes of the distinct blobs linked to the repository (shared layers counted once)'),
    usage: storageUsage.describe('What the repository counts towards its namespace quota'),
    createdAt: timestamp,
  })
  .meta({ id: 'RepositorySummary' });

export const repositoryPage = pageOf(repositorySummary, 'RepositoryPage');

export const tagView = z
  .object({
    name: z.string(),
    digest: z.string(),
    mediaType: z.string(),
    size: z.number().int().describe('Bytes of the blobs the tagged manifest references (config and layers)'),
    updatedAt: timestamp,
  })
  .meta({ id: 'Tag' });

export const tagPage = pageOf(tagView, 'TagPage');

export const repositoryDetail = repositorySummary.extend({ tags: z.array(tagView) }).meta({ id: 'Repository' });
