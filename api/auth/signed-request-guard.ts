/**
 * @layer logic
 * What stands in front of the API-key check (identity.fromSignedRequest), so that a signed
 * request can neither be replayed nor used to make CloudStack work for an anonymous caller:
 *
 * - **replay**: a non-GET signature that was accepted once is refused until its `expires` has
 *   passed (after that the signature itself is refused as expired). The cache holds at most
 *   `maxReplayEntries` live signatures; when full, further signed changes are refused
 *   (`rate_limited`) rather than remembered less.
 * - **unknown keys**: an API key CloudStack does not know is refused for `unknownKeyMs` without
 *   asking CloudStack again (one `getUser` per bogus key, not one per request).
 * - **floods**: failed signed requests count per client address (`perAddress`); past the limit
 *   that address is refused (`rate_limited`, with when to retry) before anything is looked up.
 *   Lookups of keys not seen to work recently are also limited overall (`lookups`), so random
 *   keys from many addresses cost CloudStack a bounded number of calls.
 */
import { AuthError } from './errors.ts';
import { RateLimiter } from './rate-limit.ts';

export interface SignedRequestGuardOptions {
  clock?: () => number;
  /** default 5 minutes */
  unknownKeyMs?: number;
  /** failed signed requests per client address (default 20 per minute) */
  perAddress?: { max: number; windowMs: number };
  /** lookups of keys not known to work, all addresses together (default 120 per minute) */
  lookups?: { max: number; windowMs: number };
  /** default 100,000 */
  maxReplayEntries?: number;
}

const MAX_KEYS = 10_000;

export class SignedRequestGuard {
  private readonly clock: () => number;
  private readonly unknown = new Map<string, number>();
  private readonly good = new Map<string, number>();
  private readonly seen = new Map<string, number>();
  private readonly perAddress: RateLimiter;
  private readonly lookups: RateLimiter;

  constructor(private readonly o: SignedRequestGuardOptions = {}) {
    this.clock = o.clock ?? Date.now;
    this.perAddress = new RateLimiter({ ...(o.perAddress ?? { max: 20, windowMs: 60_000 }), clock: this.clock });
    this.lookups = new RateLimiter({ ...(o.lookups ?? { max: 120, windowMs: 60_000 }), clock: this.clock });
  }

  /** Before the key is looked up: refuses a known-bogus key, a flooding address, or too many fresh lookups. */
  admit(apiKey: string, address: string): void {
    const now = this.clock();
    const blocked = this.perAddress.peek(address);
    if (blocked > 0) throw new AuthError('rate_limited', `too many failed signed requests from ${address}: try again in ${Math.ceil(blocked / 1000)} s`, blocked);
    const until = this.unknown.get(apiKey);
    if (until !== undefined) {
      if (until > now) {
        this.fail(address);
        throw new AuthError('unauthenticated', 'unable to verify user credentials and/or request signature (unknown API key)');
      }
      this.unknown.delete(apiKey);
    }
    const good = this.good.get(apiKey);
    if (good !== undefined && good > now) return;
    const gate = this.lookups.hit('*');
    if (!gate.allowed) throw new AuthError('rate_limited', `too many API keys to look up right now: try again in ${Math.ceil(gate.retryAfterMs / 1000)} s`, gate.retryAfterMs);
  }

  /** The signed request was refused; `unknownKey`: CloudStack does not know the key at all. */
  failed(apiKey: string, address: string, unknownKey: boolean): void {
    this.fail(address);
    if (!unknownKey) return;
    if (this.unknown.size >= MAX_KEYS) this.sweep(this.unknown);
    if (this.unknown.size >= MAX_KEYS) this.unknown.clear();
    this.unknown.set(apiKey, this.clock() + (this.o.unknownKeyMs ?? 5 * 60_000));
  }

  /** The key worked: later requests with it skip the overall lookup limit for a while. */
  succeeded(apiKey: string): void {
    if (this.good.size >= MAX_KEYS) this.sweep(this.good);
    if (this.good.size >= MAX_KEYS) this.good.clear();
    this.good.set(apiKey, this.clock() + (this.o.unknownKeyMs ?? 5 * 60_000));
  }

  /** A verified signature of a request that changes something: refused when it was used before. */
  once(signature: string, expiresAt: number): void {
    const now = this.clock();
    const prev = this.seen.get(signature);
    if (prev !== undefined && prev > now) throw new AuthError('unauthenticated', 'this signed request was already used: sign every request that changes something afresh');
    if (this.seen.size >= (this.o.maxReplayEntries ?? 100_000)) this.sweep(this.seen);
    if (this.seen.size >= (this.o.maxReplayEntries ?? 100_000)) throw new AuthError('rate_limited', 'too many signed changes in the last 15 minutes: try again in a minute', 60_000);
    this.seen.set(signature, expiresAt);
  }

  private fail(address: string): void {
    this.perAddress.hit(address);
  }

  private sweep(m: Map<string, number>): void {
    const now = this.clock();
    for (const [k, until] of m) if (until <= now) m.delete(k);
  }
}
