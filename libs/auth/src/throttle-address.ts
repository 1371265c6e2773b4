import ipaddr from 'ipaddr.js';

/**
 * The address a client's failed logins are counted under. One host commonly holds a
 * whole IPv6 /64 (SLAAC, privacy addresses), so IPv6 counts per /64 prefix; an
 * IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a dual-stack socket) is its IPv4 address.
 * Anything that is not an IP address is kept as given, cut to the key's room.
 */
export function throttleAddress(address: string): string {
  if (!ipaddr.isValid(address)) return address.slice(0, 45);
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  const prefix = (ip as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...prefix, 0, 0, 0, 0]).toRFC5952String()}/64`;
}
