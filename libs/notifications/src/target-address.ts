import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which addresses a webhook may not reach by default: the machine itself (loopback,
 * the unspecified address, which connects to the local host) and link-local
 * networks (cloud metadata services live at 169.254.169.254). IPv6 forms that carry
 * an IPv4 address (::ffff:127.0.0.1, ::127.0.0.1) are judged by that address.
 * Returns what the address is, or undefined when it may be reached.
 */
export function restrictedAddressKind(address: string): string | undefined {
  if (isIPv4(address)) return restrictedIpv4(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  const words = ipv6Words(address.replace(/%.*$/, ''));
  const zeros = (n: number) => words.slice(0, n).every((w) => w === 0);
  if (zeros(8)) return 'the unspecified address';
  if (zeros(7) && words[7] === 1) return 'a loopback address';
  if ((words[0] & 0xffc0) === 0xfe80) return 'a link-local address';
  // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d).
  if (zeros(5) && (words[5] === 0xffff || words[5] === 0)) {
    return restrictedIpv4([words[6] >> 8, words[6] & 0xff, words[7] >> 8, words[7] & 0xff]);
  }
  return undefined;
}

function restrictedIpv4([a, b]: number[]): string | undefined {
  if (a === 127) return 'a loopback address';
  if (a === 0) return 'the unspecified address';
  if (a === 169 && b === 254) return 'a link-local address';
  return undefined;
}

/** The eight 16-bit words of a valid IPv6 address (`::` expanded, a dotted tail converted). */
function ipv6Words(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const first = part(head);
  const last = part(tail);
  return tail === undefined ? first : [...first, ...new Array(8 - first.length - last.length).fill(0), ...last];
}
