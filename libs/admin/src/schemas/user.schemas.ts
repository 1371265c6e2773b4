import { z } from 'zod';
import { accountName, pageQuery, password, searchText } from './common.schemas.js';

export const createUserBody = z.strictObject({ username: accountName, password, isAdmin: z.boolean().optional() });

export const updateUserBody = z
  .strictObject({ isAdmin: z.boolean().optional(), disabled: z.boolean().optional() })
  .refine((b) => b.isAdmin !== undefined || b.disabled !== undefined, 'give isAdmin or disabled');

export const changePasswordBody = z.strictObject({ currentPassword: z.string().min(1).max(256), newPassword: password });

export const listUsersQuery = pageQuery.extend({ q: searchText });
