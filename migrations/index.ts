import { InitialSchema1764100000000 } from './1764100000000-initial-schema.js';
import { AccessControl1764200000000 } from './1764200000000-access-control.js';
import { Notifications1764300000000 } from './1764300000000-notifications.js';
import { GarbageCollection1764400000000 } from './1764400000000-garbage-collection.js';
import { StorageQuotas1764500000000 } from './1764500000000-storage-quotas.js';
import { UploadWriters1764600000000 } from './1764600000000-upload-writers.js';

/** Every migration, in order. Listed explicitly so the build needs no glob at run time. */
export const MIGRATIONS = [InitialSchema1764100000000, AccessControl1764200000000, Notifications1764300000000, GarbageCollection1764400000000, StorageQuotas1764500000000, UploadWriters1764600000000];
