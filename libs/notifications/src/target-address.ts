import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';

/** Why an address is refused; `privateNetwork` marks RFC 1918 and unique-local ones, allowed by a setting of their own. */
export interface RestrictedAddress {
  kind: string;
  privateNetwork: boolean;
}

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

const KINDS: Record<string, string> = {
  loopback: 'a loopback address',
  unspecified: 'the unspecified address',
  linkLocal: 'a link-local address',
  carrierGradeNat: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
  private: 'a private network address',
  uniqueLocal: 'a unique-local address',
};

/** Private networks: a webhook receiver inside the company is a normal target. */
const PRIVATE_NETWORKS = new Set(['private', 'uniqueLocal']);

/**
 * Metadata services outside the ranges refused anyway: AWS's IPv6 endpoint sits in
 * fc00::/7 (Alibaba's 100.100.100.200 is carrier-grade NAT, the rest link-local).
 */
const METADATA = [ipaddr.parse('fd00:ec2::254')];

/** NAT64 with the well-known prefix carries the IPv4 in its last 32 bits; the local-use /48 (RFC 8215) may carry it anywhere. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');

/**
 * Classifies an IP address for the webhook target policy (ipaddr.js's special-purpose
 * ranges): undefined for a global unicast address. IPv6 forms that carry an IPv4
 * address (IPv4-mapped and -compatible, IPv4-translated, NAT64, 6to4, Teredo) are judged
 * by that IPv4. `local` holds this host's own interface addresses, normalized (see
 * hostAddresses), refused too: a service bound to a private interface is still this host.
 */
export function restrictedAddress(address: string, local: ReadonlySet<string>): RestrictedAddress | undefined {
  const text = address.replace(/%.*$/, '');
  if (!isIP(text)) return undefined;
  const ip = ipaddr.parse(text);
  const inner = embeddedIpv4(ip);
  if (inner === 'opaque') return { kind: 'a local-use NAT64 address', privateNetwork: false };
  if (inner.length) {
    for (const v4 of inner) {
      const found = classify(v4, local);
      if (found) return { ...found, kind: `${found.kind} (${v4.toString()} inside)` };
    }
    return undefined;
  }
  return classify(ip, local);
}

/** This host's interface addresses as the system lists them (normalizedAddresses normalizes them); read each time (interfaces come and go). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((i) => (i ? [i.address] : []));
}

export function normalizedAddresses(addresses: string[]): Set<string> {
  const set = new Set<string>();
  for (const address of addresses) {
    const text = address.replace(/%.*$/, '');
    if (isIP(text)) set.add(normalized(ipaddr.parse(text)));
  }
  return set;
}

function classify(ip: Ip, local: ReadonlySet<string>): RestrictedAddress | undefined {
  const range = ip.range();
  const kind = KINDS[range] ?? `a special-purpose address (${range})`;
  if (range !== 'unicast' && !PRIVATE_NETWORKS.has(range)) return { kind, privateNetwork: false };
  if (local.has(normalized(ip))) return { kind: 'an address of this host', privateNetwork: false };
  if (METADATA.some((m) => m.kind() === ip.kind() && normalized(m) === normalized(ip))) return { kind: 'a cloud metadata address', privateNetwork: false };
  return range === 'unicast' ? undefined : { kind, privateNetwork: true };
}

/** The IPv4 addresses an IPv6 address carries ([] for none), or 'opaque' when it carries one at a position it does not tell. */
function embeddedIpv4(ip: Ip): ipaddr.IPv4[] | 'opaque' {
  if (ip.kind() !== 'ipv6') return [];
  const v6 = ip as ipaddr.IPv6;
  const p = v6.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const range = v6.range();
  if (range === 'ipv4Mapped' || range === 'rfc6145') return [v4(p[6], p[7])];
  // IPv4-compatible (::a.b.c.d, deprecated); :: and ::1 are judged as themselves.
  if (p.slice(0, 6).every((w) => w === 0) && (p[6] !== 0 || p[7] > 1)) return [v4(p[6], p[7])];
  if (range === 'rfc6052') return v6.match(NAT64_WELL_KNOWN) ? [v4(p[6], p[7])] : 'opaque';
  if (range === '6to4') return [v4(p[1], p[2])];
  // Teredo: the server, and the client's public address (stored inverted).
  if (range === 'teredo') return [v4(p[2], p[3]), v4(~p[6] & 0xffff, ~p[7] & 0xffff)];
  return [];
}

function normalized(ip: Ip): string {
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toNormalizedString().replace(/%.*$/, '') : ip.toString();
}
