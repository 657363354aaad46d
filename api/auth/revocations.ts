/**
 * @layer port
 * TokenRevocations: which Sendense tokens no longer count before they expire.
 *
 * - `revoke(tokenId, expiresAt)`: one token (sign-out); remembered until it would have expired.
 * - `revokeUser(userId, at)`: every token of a user issued at or before `at` (an admin's revoke,
 *   or CloudStack saying the user, account or domain is disabled).
 * - `isRevoked(tokenId, userId, issuedAt)`.
 *
 * StoreRevocations (store-limits.ts) keeps them in the database, shared by every instance: the
 * control plane's choice. MemoryRevocations keeps them in one process's memory: a restart forgets them, which is
 * acceptable only because tokens live an hour at most and a restart with a new random token
 * secret ends every token anyway (documented in docs/PLUGIN.md). It drops entries whose tokens
 * have expired, so it stays as small as the number of tokens revoked within one lifetime.
 */
export interface TokenRevocations {
  revoke(tokenId: string, expiresAt: number): void | Promise<void>;
  revokeUser(userId: string, at: number): void | Promise<void>;
  isRevoked(tokenId: string, userId: string, issuedAt: number): boolean | Promise<boolean>;
}

export class MemoryRevocations implements TokenRevocations {
  private readonly tokens = new Map<string, number>();
  private readonly users = new Map<string, number>();

  constructor(private readonly clock: () => number = Date.now, private readonly maxTokenLifeMs = 24 * 3_600_000) {}

  revoke(tokenId: string, expiresAt: number): void {
    this.sweep();
    this.tokens.set(tokenId, expiresAt);
  }

  revokeUser(userId: string, at: number): void {
    this.sweep();
    this.users.set(userId, Math.max(at, this.users.get(userId) ?? 0));
  }

  isRevoked(tokenId: string, userId: string, issuedAt: number): boolean {
    if (this.tokens.has(tokenId)) return true;
    const before = this.users.get(userId);
    return before !== undefined && issuedAt <= before;
  }

  private sweep(): void {
    const now = this.clock();
    for (const [id, exp] of this.tokens) if (exp <= now) this.tokens.delete(id);
    for (const [id, at] of this.users) if (at + this.maxTokenLifeMs <= now) this.users.delete(id);
  }
}
