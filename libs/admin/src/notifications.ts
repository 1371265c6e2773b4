/* What the admin API uses from the notifications library, in one place. */
export * from '@berth/notifications';
