/**
 * Helpers for the pull-through cache's suites: a Berth with proxy namespaces allowed to
 * reach 127.0.0.1, and the admin calls that create and change them.
 */
import { expect } from 'vitest';
import { type InProcessRegistry, basicAuth, startInProcessRegistry } from '../support/registry.js';

/** A Berth whose proxy namespaces may use upstreams on this machine (PROXY_ALLOW_PRIVATE_TARGETS). */
export function startCachingRegistry(env: Record<string, string> = {}): Promise<InProcessRegistry> {
  return startInProcessRegistry({ env: { PROXY_ALLOW_PRIVATE_TARGETS: 'true', ...env } });
}

/** Calls the admin API as the registry's administrator; returns status and JSON body. */
export async function adminCall(registry: InProcessRegistry, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${registry.url}/api/v1${path}`, {
    method,
    headers: { authorization: basicAuth(registry.admin), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Creates a public proxy namespace `name` over `upstream` (fields as POST /api/v1/namespaces takes them). */
export async function createProxyNamespace(registry: InProcessRegistry, name: string, upstream: Record<string, unknown>, visibility = 'public'): Promise<any> {
  const res = await adminCall(registry, 'POST', '/namespaces', { name, kind: 'proxy', visibility, upstream });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}
