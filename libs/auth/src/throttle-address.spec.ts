import { describe, expect, it } from 'vitest';
import { throttleAddress } from './throttle-address.js';

describe('throttleAddress', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(throttleAddress('203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(throttleAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(throttleAddress('::ffff:cb00:7107')).toBe('203.0.113.7');
  });

  it('counts IPv6 per /64, whatever the spelling', () => {
    expect(throttleAddress('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(throttleAddress('2001:0db8:0001:0002:ffff:1234:5678:9abc')).toBe('2001:db8:1:2::/64');
    expect(throttleAddress('2001:DB8:1:2::abcd')).toBe('2001:db8:1:2::/64');
    expect(throttleAddress('2001:db8::1')).toBe('2001:db8::/64');
    expect(throttleAddress('2001:db8:1:3::1')).not.toBe(throttleAddress('2001:db8:1:2::1'));
  });

  it('drops an IPv6 zone and counts loopback like any address', () => {
    expect(throttleAddress('fe80::1%eth0')).toBe('fe80::/64');
    expect(throttleAddress('::1')).toBe('::/64');
  });

  it('keeps what is not an address, cut to 45 characters', () => {
    expect(throttleAddress('unknown')).toBe('unknown');
    expect(throttleAddress('x'.repeat(60))).toBe('x'.repeat(45));
  });
});
