/**
 * @layer logic
 * A fixed-window counter per key (sign-ins: client address + username): at most `max` hits per
 * `windowMs`; `hit` says whether this one is allowed and, if not, when to retry. A success
 * `reset`s the key; `peek` says whether a key is over its limit without counting. Old windows are
 * dropped as the map is used.
 */
export interface RateLimitOptions {
  max: number;
  windowMs: number;
  clock?: () => number;
}

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly clock: () => number;

  constructor(private readonly opts: RateLimitOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  hit(key: string): { allowed: boolean; retryAfterMs: number; remaining: number } {
    const now = this.clock();
    if (this.windows.size > 10_000) for (const [k, w] of this.windows) if (now - w.start >= this.opts.windowMs) this.windows.delete(k);
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.opts.windowMs) this.windows.set(key, (w = { start: now, count: 0 }));
    w.count++;
    const allowed = w.count <= this.opts.max;
    return { allowed, retryAfterMs: allowed ? 0 : w.start + this.opts.windowMs - now, remaining: Math.max(0, this.opts.max - w.count) };
  }

  /** Without counting a hit: 0 when the key may go on, else the ms until its window ends. */
  peek(key: string): number {
    const w = this.windows.get(key);
    if (!w) return 0;
    const left = w.start + this.opts.windowMs - this.clock();
    return left > 0 && w.count >= this.opts.max ? left : 0;
  }

  reset(key: string): void {
    this.windows.delete(key);
  }
}
