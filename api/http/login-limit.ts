/**
 * @layer entry
 * Failed sign-ins are limited per user name (from any number of addresses: a password spray at
 * one account) and per client address (one address trying many names), on top of the identity's
 * own per address-and-name limit. Only failures count (401); a success clears the name's count.
 * Over either limit the answer is 429 with Retry-After, before CloudStack is asked. With the
 * Store (the control plane), the counts are the database's: every instance sees the same.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AuthError } from '../auth/errors.ts';
import { MemoryAttempts, type AttemptCounter } from '../auth/attempts.ts';
import { StoreAttempts } from '../auth/store-limits.ts';
import type { AuthStore } from '../../db/store.ts';

export interface LoginLimitOptions {
  /** failed sign-ins per user name (default 20 per 15 minutes) */
  perUser?: { max: number; windowMs: number };
  /** failed sign-ins per client address (default 50 per 15 minutes) */
  perAddress?: { max: number; windowMs: number };
  addressOf: (c: Context) => string;
  clock?: () => number;
  /** count in the Store (every instance on the database the same); default: this process's memory */
  store?: AuthStore;
}

export function loginLimit(o: LoginLimitOptions): MiddlewareHandler {
  const counter = (limit: { max: number; windowMs: number }, prefix: string): AttemptCounter =>
    (o.store ? new StoreAttempts(o.store, { ...limit, clock: o.clock, prefix }) : new MemoryAttempts({ ...limit, clock: o.clock }));
  const perUser = counter(o.perUser ?? { max: 20, windowMs: 15 * 60_000 }, 'failed:');
  const perAddress = counter(o.perAddress ?? { max: 50, windowMs: 15 * 60_000 }, 'failed:addr:');
  return async function limitSignIns(c, next) {
    if (c.req.method !== 'POST') return next();
    let username = '';
    try {
      const body = (await c.req.json()) as { username?: unknown };
      if (typeof body?.username === 'string') username = body.username.toLowerCase();
    } catch { /* the validator answers a bad body */ }
    const address = o.addressOf(c);
    const userKey = `user:${username}`;
    const wait = Math.max(username ? await perUser.peek(userKey) : 0, await perAddress.peek(address));
    if (wait > 0) {
      throw new AuthError('rate_limited', `too many failed sign-ins${username ? ` for ${username} or` : ''} from ${address}: try again in ${Math.ceil(wait / 1000)} s`, wait);
    }
    await next();
    if (c.res.status === 401) {
      if (username) await perUser.hit(userKey);
      await perAddress.hit(address);
    } else if (c.res.status === 200 && username) {
      await perUser.reset(userKey);
    }
  };
}
