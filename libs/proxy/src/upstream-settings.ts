/** Where a proxy namespace's content comes from (secrets in the clear: only in memory). */
export interface UpstreamSettings {
  url: string;
  /** Prepended to the name under the namespace: `hub/alpine` with prefix `library` is `library/alpine`. */
  pathPrefix: string | null;
  username: string | null;
  password: string | null;
  /** Sent as `Authorization: Bearer <token>` on every request, instead of the token flow. */
  token: string | null;
  insecure: boolean;
  /** PEM certificates the upstream's TLS certificate must chain to (instead of the system's). */
  caBundle: string | null;
  tagTtlSeconds: number;
}

/** A proxy namespace as the cache serves it. */
export interface ProxyNamespace {
  id: string;
  name: string;
  /** The upstream's host (with a port unless the scheme's default), as `?ns=` names it; Docker Hub is `docker.io`. */
  host: string;
  settings: UpstreamSettings;
}

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The host `?ns=` names an upstream by (lowercase; Docker Hub's hosts are all `docker.io`). */
export function mirrorHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_HOSTS.has(lower) ? 'docker.io' : lower;
}

/**
 * The upstream repository for a name in the proxy namespace: the rest of the name after the
 * namespace, under the path prefix; on Docker Hub a one-component name is `library/<name>`.
 */
export function upstreamRepository(namespace: ProxyNamespace, name: string): string {
  const rest = name.slice(namespace.name.length + 1);
  const repository = namespace.settings.pathPrefix ? `${namespace.settings.pathPrefix}/${rest}` : rest;
  return namespace.host === 'docker.io' && !repository.includes('/') ? `library/${repository}` : repository;
}

/** Checks an upstream URL as written: absolute http(s), no credentials, query or fragment. Returns the normalised URL. */
export function checkUpstreamUrl(url: string): { url: string; host: string } | { error: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: 'must be an absolute http or https URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { error: 'must be an http or https URL' };
  if (parsed.username || parsed.password) return { error: 'must not carry credentials: give username and password instead, which are stored encrypted' };
  if (parsed.search || parsed.hash) return { error: 'must not have a query or fragment' };
  const path = parsed.pathname.replace(/\/+$/, '');
  if (path !== '' && path !== '/v2') return { error: 'must be the registry\'s base URL (e.g. https://registry-1.docker.io), without a path' };
  return { url: parsed.origin, host: mirrorHost(parsed.host) };
}
