/**
 * @layer adapter
 * AuthStore over PostgreSQL (sign_in_windows, token_revocations): a sign-in attempt is one
 * `INSERT … ON CONFLICT DO UPDATE` (the conflicting row's lock makes instances counting at once
 * queue: no attempt is lost); a revocation keeps the later time of two.
 */
import { eq, inArray, lt, sql } from 'drizzle-orm';
import type { AuthStore } from '../store.ts';
import { signInWindows, tokenRevocations } from './schema.ts';
import type { PgDb } from './db.ts';

export function createAuthStore(db: PgDb): AuthStore {
  return {
    async hit(key, windowMs, now) {
      const ended = new Date(now.getTime() - windowMs);
      const [row] = await db.insert(signInWindows).values({ key, windowStart: now, count: 1 }).onConflictDoUpdate({
        target: signInWindows.key,
        set: {
          count: sql`case when ${signInWindows.windowStart} <= ${ended} then 1 else ${signInWindows.count} + 1 end`,
          windowStart: sql`case when ${signInWindows.windowStart} <= ${ended} then ${now} else ${signInWindows.windowStart} end`,
        },
      }).returning({ count: signInWindows.count, windowStart: signInWindows.windowStart });
      return row;
    },
    async window(key) {
      return (await db.select({ count: signInWindows.count, windowStart: signInWindows.windowStart }).from(signInWindows).where(eq(signInWindows.key, key)))[0];
    },
    async reset(key) {
      await db.delete(signInWindows).where(eq(signInWindows.key, key));
    },
    async revoke(id, at) {
      await db.insert(tokenRevocations).values({ id, at }).onConflictDoUpdate({
        target: tokenRevocations.id, set: { at: sql`greatest(${tokenRevocations.at}, ${at})` },
      });
    },
    async revocations(ids) {
      if (!ids.length) return new Map();
      return new Map((await db.select().from(tokenRevocations).where(inArray(tokenRevocations.id, ids))).map((r) => [r.id, r.at]));
    },
    async sweep(before) {
      await db.delete(tokenRevocations).where(sql`(${tokenRevocations.id} like 'token:%' and ${tokenRevocations.at} < ${before.tokens}) or (${tokenRevocations.id} like 'user:%' and ${tokenRevocations.at} < ${before.users})`);
      await db.delete(signInWindows).where(lt(signInWindows.windowStart, before.windows));
    },
  };
}
