/**
 * @layer usecase
 * The sign-in limits and token revocations kept in the Store (db/store.ts AuthStore), so that
 * several control-plane instances on one PostgreSQL agree: an attempt counted by one counts on
 * every other, a token revoked on one is refused by all. Old rows are swept now and then
 * (windows older than a window, token rows past their expiry, user rows older than the longest
 * token life).
 */
import type { AuthStore } from '../../db/store.ts';
import type { AttemptCounter } from './attempts.ts';
import type { TokenRevocations } from './revocations.ts';

export class StoreAttempts implements AttemptCounter {
  private readonly clock: () => number;

  constructor(private readonly store: AuthStore, private readonly opts: { max: number; windowMs: number; clock?: () => number; prefix?: string }) {
    this.clock = opts.clock ?? Date.now;
  }

  private key(k: string): string {
    return `${this.opts.prefix ?? ''}${k}`;
  }

  async hit(key: string) {
    const now = this.clock();
    const w = await this.store.hit(this.key(key), this.opts.windowMs, new Date(now));
    const allowed = w.count <= this.opts.max;
    return { allowed, retryAfterMs: allowed ? 0 : w.windowStart.getTime() + this.opts.windowMs - now };
  }

  async peek(key: string) {
    const w = await this.store.window(this.key(key));
    if (!w) return 0;
    const left = w.windowStart.getTime() + this.opts.windowMs - this.clock();
    return left > 0 && w.count >= this.opts.max ? left : 0;
  }

  async reset(key: string) {
    await this.store.reset(this.key(key));
  }
}

export class StoreRevocations implements TokenRevocations {
  private lastSweep = 0;

  constructor(private readonly store: AuthStore, private readonly clock: () => number = Date.now, private readonly maxTokenLifeMs = 24 * 3_600_000) {}

  async revoke(tokenId: string, expiresAt: number): Promise<void> {
    await this.store.revoke(`token:${tokenId}`, new Date(expiresAt));
    await this.sweep();
  }

  async revokeUser(userId: string, at: number): Promise<void> {
    await this.store.revoke(`user:${userId}`, new Date(at));
    await this.sweep();
  }

  async isRevoked(tokenId: string, userId: string, issuedAt: number): Promise<boolean> {
    const r = await this.store.revocations([`token:${tokenId}`, `user:${userId}`]);
    if (r.has(`token:${tokenId}`)) return true;
    const before = r.get(`user:${userId}`);
    return before !== undefined && issuedAt <= before.getTime();
  }

  private async sweep(): Promise<void> {
    const now = this.clock();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    await this.store.sweep({ tokens: new Date(now), users: new Date(now - this.maxTokenLifeMs), windows: new Date(now - this.maxTokenLifeMs) });
  }
}
