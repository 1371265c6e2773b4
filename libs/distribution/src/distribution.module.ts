import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { BaseController } from './controllers/base.controller.js';
import { BlobController } from './controllers/blob.controller.js';
import { ListingController } from './controllers/listing.controller.js';
import { ManifestController } from './controllers/manifest.controller.js';
import { ReferrerController } from './controllers/referrer.controller.js';
import { UploadController } from './controllers/upload.controller.js';
import { ReadOnlyGuard } from './http/read-only.guard.js';
import { BlobService } from './services/blob.service.js';
import { BlobStore } from './services/blob.store.js';
import { ListingService } from './services/listing.service.js';
import { ManifestCache } from './services/manifest-cache.js';
import { ManifestService } from './services/manifest.service.js';
import { ManifestStore } from './services/manifest.store.js';
import { QuotaService } from './services/quota.service.js';
import { PullThroughHooks } from './services/pull-through.js';
import { CachedContent } from './services/cached-content.js';
import { ReferrerService } from './services/referrer.service.js';
import { RegistryEvents } from './services/registry-events.js';
import { RepositoryService } from './services/repository.service.js';
import { RepositoryStore } from './services/repository.store.js';
import { StorageUsageService } from './services/storage-usage.service.js';
import { UploadService } from './services/upload.service.js';
import { UploadStore } from './services/upload.store.js';

/** The OCI Distribution API under /v2. */
@Module({
  // Upload routes come before blob routes: `blobs/uploads` must not be taken for a digest.
  controllers: [BaseController, UploadController, BlobController, ManifestController, ListingController, ReferrerController],
  providers: [
    // Global: read-only mode also refuses the admin API's content changes.
    { provide: APP_GUARD, useClass: ReadOnlyGuard },
    RegistryEvents,
    RepositoryStore,
    RepositoryService,
    StorageUsageService,
    QuotaService,
    BlobStore,
    BlobService,
    UploadStore,
    UploadService,
    ManifestStore,
    ManifestCache,
    ManifestService,
    ListingService,
    ReferrerService,
    PullThroughHooks,
    CachedContent,
  ],
  // The admin API deletes repositories and tags too, with the same events, and reports usage;
  // a pull-through cache (libs/proxy) registers in PullThroughHooks and stores through CachedContent.
  exports: [RegistryEvents, StorageUsageService, PullThroughHooks, CachedContent],
})
export class DistributionModule {}
