import { InitialSchema1764100000000 } from './1764100000000-initial-schema.js';
import { AccessControl1764200000000 } from './1764200000000-access-control.js';
import { Notifications1764300000000 } from './1764300000000-notifications.js';
import { GarbageCollection1764400000000 } from './1764400000000-garbage-collection.js';
import { StorageQuotas1764500000000 } from './1764500000000-storage-quotas.js';
import { UploadWriters1764600000000 } from './1764600000000-upload-writers.js';
import { CredentialGenerations1765000000020 } from './1765000000020-credential-generations.js';
import { UploadLimits1765000000030 } from './1765000000030-upload-limits.js';
import { BlobVerification1765000000040 } from './1765000000040-blob-verification.js';
import { LoginFailureChanges1765000000060 } from './1765000000060-login-failure-changes.js';
import { ManifestNotifications1765000000070 } from './1765000000070-manifest-notifications.js';
import { GcReviewQueues1765000000080 } from './1765000000080-gc-review-queues.js';
import { ProxyNamespaces1765000000090 } from './1765000000090-proxy-namespaces.js';

/** Every migration, in order. Listed explicitly so the build needs no glob at run time. */
export const MIGRATIONS = [InitialSchema1764100000000, AccessControl1764200000000, Notifications1764300000000, GarbageCollection1764400000000, StorageQuotas1764500000000, UploadWriters1764600000000, CredentialGenerations1765000000020, UploadLimits1765000000030, BlobVerification1765000000040, LoginFailureChanges1765000000060, ManifestNotifications1765000000070, GcReviewQueues1765000000080, ProxyNamespaces1765000000090];
