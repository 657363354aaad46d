/**
 * @layer adapter
 * LeaseStore over PostgreSQL (leases): one `INSERT … ON CONFLICT DO UPDATE … WHERE` whose
 * update only applies when the lease is expired or already this holder's; the row lock of the
 * conflicting row makes concurrent instances queue, and exactly one sees its row returned.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { LeaseStore } from '../store.ts';
import { leases } from './schema.ts';
import type { PgDb } from './db.ts';

export function createLeaseStore(db: PgDb): LeaseStore {
  return {
    async acquire(name, holder, ttlMs, now) {
      const expiresAt = new Date(now.getTime() + ttlMs);
      const got = await db.insert(leases).values({ name, holder, expiresAt, acquiredAt: now }).onConflictDoUpdate({
        target: leases.name,
        set: { holder, expiresAt, acquiredAt: sql`case when ${leases.holder} = ${holder} then ${leases.acquiredAt} else ${now} end` },
        setWhere: sql`${leases.holder} = ${holder} or ${leases.expiresAt} <= ${now}`,
      }).returning({ holder: leases.holder });
      return got.length === 1 && got[0].holder === holder;
    },
    async release(name, holder) {
      await db.delete(leases).where(and(eq(leases.name, name), eq(leases.holder, holder)));
    },
    async get(name) {
      return (await db.select().from(leases).where(eq(leases.name, name)))[0];
    },
  };
}
