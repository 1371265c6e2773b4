import type { TokenPrincipal } from './jwt.strategy.js';

const LIMIT = 10_000;

/**
 * Registry tokens already verified, by their exact text, until they expire. A client
 * sends the same token with every request of a pull or push, and an ES256 check costs
 * more than the rest of a manifest GET; the same bytes always verify the same way, so
 * only the expiry needs checking again. Admin API tokens are not kept (their identity
 * is re-read on every request).
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { principal: TokenPrincipal; expiresAt: number }>();

  get(token: string): TokenPrincipal | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.principal;
  }

  set(token: string, principal: TokenPrincipal, expiresAtSeconds: number): void {
    if (this.entries.size >= LIMIT) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(token, { principal, expiresAt: expiresAtSeconds * 1000 });
  }
}
