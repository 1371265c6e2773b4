import { z } from 'zod';
import { accountName, pageOf, pageQuery, password, searchText, timestamp } from './common.schemas.js';

export const createUserBody = z.strictObject({ username: accountName, password, isAdmin: z.boolean().optional() }).meta({ id: 'CreateUserRequest' });

export const updateUserBody = z
  .strictObject({ isAdmin: z.boolean().optional(), disabled: z.boolean().optional() })
  .refine((b) => b.isAdmin !== undefined || b.disabled !== undefined, 'give isAdmin or disabled')
  .meta({ id: 'UpdateUserRequest', description: 'isAdmin, disabled or both' });

export const changePasswordBody = z
  .strictObject({ currentPassword: z.string().min(1).max(256), newPassword: password })
  .meta({ id: 'ChangePasswordRequest' });

export const listUsersQuery = pageQuery.extend({ q: searchText });

/** A user as the API shows it: never the password hash. */
export const userView = z
  .object({
    username: z.string(),
    isAdmin: z.boolean(),
    disabled: z.boolean(),
    passwordChangedAt: timestamp,
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'User' });

export const userPage = pageOf(userView, 'UserPage');
