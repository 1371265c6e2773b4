/**
 * Behind a load balancer every request comes from the proxy's address. With
 * TRUST_PROXY, the client address the proxy forwards (X-Forwarded-For) is the one
 * failed logins are counted under; without it, the header is ignored, so a client can
 * never choose its address.
 */
import { describe, expect, it } from 'vitest';
import { basicAuth, postgresAvailable, startRegistry } from '../support/registry.js';

const available = await postgresAvailable();
if (!available) console.warn('[trusted proxy] SKIPPED: Postgres is not reachable at TEST_DATABASE_URL');

/** A failed token request by `username` that the proxy says came from `client`. */
async function failedLogin(url: string, username: string, client: string): Promise<number> {
  const res = await fetch(`${url}/auth/token?service=berth-registry`, {
    headers: { authorization: basicAuth({ username, password: 'wrong-password' }), 'x-forwarded-for': client },
  });
  await res.arrayBuffer();
  return res.status;
}

describe.skipIf(!available)('client addresses behind a proxy (TRUST_PROXY)', () => {
  it('TRUST_PROXY=1: failed logins count against the forwarded client address, not the proxy', async () => {
    const registry = await startRegistry({ storageDriver: 'inmemory', env: { TRUST_PROXY: '1', LOGIN_MAX_FAILURES_PER_ADDRESS: '2' } });
    try {
      expect(await failedLogin(registry.url, 'nobody-1', '203.0.113.7')).toBe(401);
      expect(await failedLogin(registry.url, 'nobody-2', '203.0.113.7')).toBe(401);
      expect(await failedLogin(registry.url, 'nobody-3', '203.0.113.7')).toBe(429);
      // Another client behind the same proxy is not locked out.
      expect(await failedLogin(registry.url, 'nobody-4', '198.51.100.9')).toBe(401);
      // Only the hop the proxy appended counts: an address the client put first is not believed.
      expect(await failedLogin(registry.url, 'nobody-5', '198.51.100.10, 203.0.113.7')).toBe(429);
    } finally {
      await registry.close();
    }
  });

  it('without TRUST_PROXY, X-Forwarded-For is ignored: the peer address counts', async () => {
    const registry = await startRegistry({ storageDriver: 'inmemory', env: { LOGIN_MAX_FAILURES_PER_ADDRESS: '2' } });
    try {
      expect(await failedLogin(registry.url, 'nobody-1', '203.0.113.7')).toBe(401);
      expect(await failedLogin(registry.url, 'nobody-2', '198.51.100.9')).toBe(401);
      expect(await failedLogin(registry.url, 'nobody-3', '192.0.2.1')).toBe(429);
    } finally {
      await registry.close();
    }
  });
});
