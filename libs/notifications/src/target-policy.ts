import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIPv6, type LookupFunction } from 'node:net';
import { type RestrictedAddress, hostAddresses, normalizedAddresses, restrictedAddress } from './target-address.js';
import { TargetNotAllowedError } from './target-not-allowed.error.js';

export { TargetNotAllowedError };

/** Resolves a host name to every address it has, as the HTTP client would (`hints`: getaddrinfo's, e.g. ADDRCONFIG). */
export type HostResolver = (host: string, hints?: number) => Promise<string[]>;

export interface TargetPolicyOptions {
  /** RFC 1918 and unique-local (fc00::/7) targets; default true (WEBHOOK_ALLOW_PRIVATE_NETWORKS). */
  allowPrivateNetworks?: boolean;
  /** This host's own addresses, refused as targets; default: its network interfaces, read at every check. */
  localAddresses?: () => string[];
  /** Who is refused and the settings that allow it, for the messages; default webhooks (WEBHOOK_ALLOW_PRIVATE_*). */
  purpose?: { what: string; settingPrefix: string };
}

const resolveAll: HostResolver = async (host, hints) => (await lookup(host, { all: true, verbatim: true, hints })).map((a) => a.address);

/**
 * Where webhooks may be sent. A registry inside a network must not become a way to
 * reach the machine it runs on or a cloud metadata service, so unless
 * WEBHOOK_ALLOW_PRIVATE_TARGETS=true every address that is not global unicast is refused
 * (loopback, link-local, carrier-grade NAT, unspecified, multicast, broadcast, reserved
 * and special-purpose ranges, as ipaddr.js classifies them), and so are the metadata
 * endpoints outside those ranges, this host's own interface addresses and `localhost`;
 * an IPv6 address carrying an IPv4 one (mapped, NAT64, 6to4, Teredo) is judged by that
 * IPv4. Private networks (RFC 1918, fc00::/7) are common webhook receivers inside a
 * company: allowed unless WEBHOOK_ALLOW_PRIVATE_NETWORKS=false. Checked when a
 * subscription is saved (the URL as written), before every delivery (the URL again) and
 * when the delivery connects: `lookup` resolves the host for the socket itself and
 * refuses it if any address it has is restricted, so a DNS name cannot smuggle in a
 * restricted address after it was accepted, nor between a check and the connection.
 */
export class TargetPolicy {
  private readonly allowPrivateNetworks: boolean;
  private readonly localAddresses: () => string[];
  private readonly purpose: { what: string; settingPrefix: string };

  constructor(
    readonly allowPrivateTargets: boolean,
    private readonly resolve: HostResolver = resolveAll,
    options: TargetPolicyOptions = {},
  ) {
    this.allowPrivateNetworks = options.allowPrivateNetworks ?? true;
    this.localAddresses = options.localAddresses ?? hostAddresses;
    this.purpose = options.purpose ?? { what: 'webhooks', settingPrefix: 'WEBHOOK' };
  }

  assertAllowedUrl(url: string): void {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TargetNotAllowedError('must be an absolute http or https URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TargetNotAllowedError('must be an http or https URL');
    if (parsed.username || parsed.password) {
      throw new TargetNotAllowedError('must not carry credentials: put them in a custom header, which is stored encrypted');
    }
    if (this.allowPrivateTargets) return;
    const host = hostOf(parsed);
    if (host === 'localhost' || host.endsWith('.localhost')) throw refused(host, { kind: 'a loopback name', privateNetwork: false }, this.purpose);
    const found = this.restricted(host, normalizedAddresses(this.localAddresses()));
    if (found) throw refused(host, found, this.purpose);
  }

  /**
   * A `lookup` for net.connect (an HTTP request's `lookup` option): the addresses the
   * socket will connect to, or a TargetNotAllowedError. Lookup failures pass through
   * as they are: they are network errors, worth a retry.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname, options.hints).then(
      (addresses) => {
        const found: LookupAddress[] = addresses.map((address) => ({ address, family: isIPv6(address) ? 6 : 4 }));
        if (!this.allowPrivateTargets) {
          const local = normalizedAddresses(this.localAddresses());
          for (const { address } of found) {
            const restricted = this.restricted(address, local);
            if (restricted) return callback(refused(`${hostname} (${address})`, restricted, this.purpose), '');
          }
        }
        const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
        if (!wanted.length) return callback(Object.assign(new Error(`${hostname} has no IPv${options.family} address`), { code: 'ENOTFOUND' }), '');
        if (options.all) callback(null, wanted);
        else callback(null, wanted[0].address, wanted[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  private restricted(address: string, local: ReadonlySet<string>): RestrictedAddress | undefined {
    const found = restrictedAddress(address, local);
    return found?.privateNetwork && this.allowPrivateNetworks ? undefined : found;
  }
}

/** The host without IPv6 brackets or the trailing dot of a fully qualified name. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}

function refused(what: string, { kind, privateNetwork }: RestrictedAddress, purpose: { what: string; settingPrefix: string }): TargetNotAllowedError {
  const setting = `${purpose.settingPrefix}_ALLOW_PRIVATE_${privateNetwork ? 'NETWORKS' : 'TARGETS'}=true`;
  return new TargetNotAllowedError(`${what} is ${kind}: ${purpose.what} may not target this host (${setting} allows it)`);
}
