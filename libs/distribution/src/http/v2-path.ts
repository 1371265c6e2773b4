/**
 * Repository names contain slashes, so `/v2/<name>/…` cannot be routed by a plain
 * `:name` parameter. This rewrites the URL once, before routing, so the name becomes
 * a single percent-encoded segment (`/v2/team%2Fapp/manifests/v1`) that the
 * controllers receive decoded as `:name`. The name's grammar is checked later, by
 * the services. The endings are the API's; the name is the shortest prefix that
 * leaves a valid ending, as in Distribution's router.
 */
const V2_PATH = /^\/v2\/(.+?)\/(blobs\/uploads\/?|blobs\/uploads\/[^/]+|blobs\/[^/]+|manifests\/[^/]+|tags\/list|referrers\/[^/]+)$/;

export function rewriteV2Path(url: string): string {
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (path === '/v2/_catalog' || path === '/v2' || path === '/v2/') return url;
  const match = V2_PATH.exec(path);
  if (!match) return url;
  const query = queryAt === -1 ? '' : url.slice(queryAt);
  let name: string;
  try {
    name = decodeURIComponent(match[1]);
  } catch {
    name = match[1];
  }
  return `/v2/${encodeURIComponent(name)}/${match[2]}${query}`;
}
