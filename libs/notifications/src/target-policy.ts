import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { restrictedAddressKind } from './target-address.js';
import { TargetNotAllowedError } from './target-not-allowed.error.js';

export { TargetNotAllowedError };

/** Resolves a host name to every address it has, as the HTTP client would. */
export type HostResolver = (host: string) => Promise<string[]>;

const resolveAll: HostResolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Where webhooks may be sent. A registry inside a network must not become a way to
 * reach the machine it runs on or its metadata service, so loopback, link-local and
 * unspecified addresses (and `localhost`) are refused unless
 * WEBHOOK_ALLOW_PRIVATE_TARGETS=true. Checked when a subscription is saved (the URL
 * as written) and again before every delivery (every address the host resolves to,
 * so a DNS name cannot smuggle in a loopback address after it was accepted).
 */
export class TargetPolicy {
  constructor(
    readonly allowPrivateTargets: boolean,
    private readonly resolve: HostResolver = resolveAll,
  ) {}

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
    if (host === 'localhost' || host.endsWith('.localhost')) throw refused(host, 'a loopback name');
    const kind = restrictedAddressKind(host);
    if (kind) throw refused(host, kind);
  }

  /** Lookup failures pass through as they are: they are network errors, worth a retry. */
  async assertAllowedAtDelivery(url: string): Promise<void> {
    this.assertAllowedUrl(url);
    if (this.allowPrivateTargets) return;
    const host = hostOf(new URL(url));
    if (isIP(host)) return;
    for (const address of await this.resolve(host)) {
      const kind = restrictedAddressKind(address);
      if (kind) throw refused(`${host} (${address})`, kind);
    }
  }
}

/** The host without IPv6 brackets or the trailing dot of a fully qualified name. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
}

function refused(what: string, kind: string): TargetNotAllowedError {
  return new TargetNotAllowedError(`${what} is ${kind}: webhooks may not target this host (WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows it)`);
}
