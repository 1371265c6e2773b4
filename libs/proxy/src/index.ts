export * from './proxy.module.js';
export { MirrorRoutes } from './mirror-routes.js';
export { DEFAULT_TAG_TTL_SECONDS, ProxyNamespaceService, type UpstreamInput, type UpstreamView } from './proxy-namespace.service.js';
