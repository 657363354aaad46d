/**
 * @layer entry
 * Failed sign-ins are limited per user name (from any number of addresses: a password spray at
 * one account) and per client address (one address trying many names), on top of the identity's
 * own per address-and-name limit. Only failures count (401); a success clears the name's count.
 * Over either limit the answer is 429 with Retry-After, before CloudStack is asked.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AuthError } from '../auth/errors.ts';
import { RateLimiter } from '../auth/rate-limit.ts';

export interface LoginLimitOptions {
  /** failed sign-ins per user name (default 20 per 15 minutes) */
  perUser?: { max: number; windowMs: number };
  /** failed sign-ins per client address (default 50 per 15 minutes) */
  perAddress?: { max: number; windowMs: number };
  addressOf: (c: Context) => string;
  clock?: () => number;
}

export function loginLimit(o: LoginLimitOptions): MiddlewareHandler {
  const perUser = new RateLimiter({ ...(o.perUser ?? { max: 20, windowMs: 15 * 60_000 }), clock: o.clock });
  const perAddress = new RateLimiter({ ...(o.perAddress ?? { max: 50, windowMs: 15 * 60_000 }), clock: o.clock });
  return async function limitSignIns(c, next) {
    if (c.req.method !== 'POST') return next();
    let username = '';
    try {
      const body = (await c.req.json()) as { username?: unknown };
      if (typeof body?.username === 'string') username = body.username.toLowerCase();
    } catch { /* the validator answers a bad body */ }
    const address = o.addressOf(c);
    const userKey = `user:${username}`;
    const wait = Math.max(username ? perUser.peek(userKey) : 0, perAddress.peek(address));
    if (wait > 0) {
      throw new AuthError('rate_limited', `too many failed sign-ins${username ? ` for ${username} or` : ''} from ${address}: try again in ${Math.ceil(wait / 1000)} s`, wait);
    }
    await next();
    if (c.res.status === 401) {
      if (username) perUser.hit(userKey);
      perAddress.hit(address);
    } else if (c.res.status === 200 && username) {
      perUser.reset(userKey);
    }
  };
}
