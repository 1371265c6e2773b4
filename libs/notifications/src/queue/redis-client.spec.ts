import { redactRedisUrl } from './redis-client.js';

describe('redactRedisUrl', () => {
  it('keeps what identifies the server and drops the credentials', () => {
    expect(redactRedisUrl('redis://default:hunter2@cache.internal:6380/2')).toBe('redis://cache.internal:6380/2');
    expect(redactRedisUrl('rediss://:only-a-password@cache.internal')).toBe('rediss://cache.internal');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
