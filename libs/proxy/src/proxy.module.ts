import { Module } from '@nestjs/common';
import { AccountsModule } from '@berth/auth';
import { DistributionModule } from '@berth/distribution';
import { MirrorRoutes } from './mirror-routes.js';
import { ProxyDirectory } from './proxy-directory.js';
import { ProxyMetrics } from './proxy-metrics.js';
import { ProxyNamespaceService } from './proxy-namespace.service.js';
import { ProxyNamespaceStore } from './proxy-namespace.store.js';
import { PullThroughService } from './pull-through.service.js';

/**
 * Pull-through caches: proxy namespaces that mirror upstream registries. Plugs into the
 * distribution API through PullThroughHooks (manifests, blobs not cached yet, referrers,
 * refused pushes) and stores what it fetched through CachedContent; the admin API
 * creates and changes proxy namespaces through ProxyNamespaceService; MirrorRoutes.handle
 * is a middleware the registry app mounts before routing.
 */
@Module({
  imports: [AccountsModule, DistributionModule],
  providers: [ProxyNamespaceStore, ProxyDirectory, ProxyMetrics, PullThroughService, ProxyNamespaceService, MirrorRoutes],
  exports: [ProxyNamespaceService, MirrorRoutes],
})
export class ProxyModule {}
