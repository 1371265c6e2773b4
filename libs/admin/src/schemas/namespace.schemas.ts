import { z } from 'zod';
import { accountName, pageQuery, searchText } from './common.schemas.js';

const visibility = z.enum(['private', 'public']);

export const createNamespaceBody = z.strictObject({ name: accountName, visibility: visibility.optional() });

export const updateNamespaceBody = z.strictObject({ visibility });

export const listNamespacesQuery = pageQuery.extend({ q: searchText });

export const setMemberBody = z.strictObject({ role: z.enum(['reader', 'developer', 'maintainer', 'owner']) });
