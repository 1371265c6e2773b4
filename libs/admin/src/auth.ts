/* What the admin API uses from the auth library, in one place. */
export * from '@berth/auth';
