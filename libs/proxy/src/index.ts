export * from './proxy.module.js';
export { MirrorRoutes } from './mirror-routes.js';
export { ProxyNamespaceService, type UpstreamInput, type UpstreamView } from './proxy-namespace.service.js';
