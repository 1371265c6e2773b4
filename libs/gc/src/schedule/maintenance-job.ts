/** The BullMQ queue of scheduled maintenance, and the @nestjs/bullmq configuration key of its connection. */
export const MAINTENANCE_QUEUE = 'berth-maintenance';
export const MAINTENANCE_CONFIG_KEY = 'berth-maintenance';

/** Job names, which are also the ids of their job schedulers. */
export const MAINTENANCE_TASKS = ['gc', 'purge-uploads'] as const;
export type MaintenanceTask = (typeof MAINTENANCE_TASKS)[number];
