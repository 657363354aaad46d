/**
 * @layer adapter
 * AuthStore over SQLite (sign_in_windows, token_revocations): a sign-in attempt is one upsert
 * that starts a new window when the last has ended and counts one otherwise; a revocation
 * keeps the later time of two.
 */
import { inArray, lt, sql, eq } from 'drizzle-orm';
import { signInWindows, tokenRevocations } from '../schema.ts';
import type { AuthStore } from '../store.ts';
import type { Db } from './db.ts';

export function createAuthStore(db: Db): AuthStore {
  return {
    async hit(key, windowMs, now) {
      const ended = now.getTime() - windowMs;
      const [row] = db.insert(signInWindows).values({ key, windowStart: now, count: 1 }).onConflictDoUpdate({
        target: signInWindows.key,
        set: {
          count: sql`case when ${signInWindows.windowStart} <= ${ended} then 1 else ${signInWindows.count} + 1 end`,
          windowStart: sql`case when ${signInWindows.windowStart} <= ${ended} then ${now.getTime()} else ${signInWindows.windowStart} end`,
        },
      }).returning({ count: signInWindows.count, windowStart: signInWindows.windowStart }).all();
      return row;
    },
    async window(key) {
      return db.select({ count: signInWindows.count, windowStart: signInWindows.windowStart }).from(signInWindows).where(eq(signInWindows.key, key)).get();
    },
    async reset(key) {
      db.delete(signInWindows).where(eq(signInWindows.key, key)).run();
    },
    async revoke(id, at) {
      db.insert(tokenRevocations).values({ id, at }).onConflictDoUpdate({
        target: tokenRevocations.id, set: { at: sql`max(${tokenRevocations.at}, ${at.getTime()})` },
      }).run();
    },
    async revocations(ids) {
      if (!ids.length) return new Map();
      return new Map(db.select().from(tokenRevocations).where(inArray(tokenRevocations.id, ids)).all().map((r) => [r.id, r.at]));
    },
    async sweep(before) {
      db.delete(tokenRevocations).where(sql`(${tokenRevocations.id} like 'token:%' and ${tokenRevocations.at} < ${before.tokens.getTime()}) or (${tokenRevocations.id} like 'user:%' and ${tokenRevocations.at} < ${before.users.getTime()})`).run();
      db.delete(signInWindows).where(lt(signInWindows.windowStart, before.windows)).run();
    },
  };
}
