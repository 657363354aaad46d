/**
 * @layer port
 * AttemptCounter: sign-in attempts per key in fixed windows — `hit` counts one and says whether
 * it is allowed (and when to retry), `peek` says how long a key over its limit must wait without
 * counting, `reset` clears a key (a success). MemoryAttempts keeps them in this process (a
 * RateLimiter); store-limits.ts keeps them in the Store, so every instance on one database
 * counts the same attempts.
 */
import { RateLimiter, type RateLimitOptions } from './rate-limit.ts';

export interface AttemptCounter {
  hit(key: string): Promise<{ allowed: boolean; retryAfterMs: number }>;
  peek(key: string): Promise<number>;
  reset(key: string): Promise<void>;
}

export class MemoryAttempts implements AttemptCounter {
  private readonly limiter: RateLimiter;

  constructor(opts: RateLimitOptions) {
    this.limiter = new RateLimiter(opts);
  }

  async hit(key: string) {
    return this.limiter.hit(key);
  }

  async peek(key: string) {
    return this.limiter.peek(key);
  }

  async reset(key: string) {
    this.limiter.reset(key);
  }
}
