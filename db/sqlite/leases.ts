/**
 * @layer adapter
 * LeaseStore over SQLite (leases): one upsert whose update only applies when the lease is
 * expired or already this holder's; a returned row means the holder has it.
 */
import { and, eq, sql } from 'drizzle-orm';
import { leases } from '../schema.ts';
import type { LeaseStore } from '../store.ts';
import type { Db } from './db.ts';

export function createLeaseStore(db: Db): LeaseStore {
  return {
    async acquire(name, holder, ttlMs, now) {
      const expiresAt = new Date(now.getTime() + ttlMs);
      const got = db.insert(leases).values({ name, holder, expiresAt, acquiredAt: now }).onConflictDoUpdate({
        target: leases.name,
        set: { holder, expiresAt, acquiredAt: sql`case when ${leases.holder} = ${holder} then ${leases.acquiredAt} else ${now.getTime()} end` },
        setWhere: sql`${leases.holder} = ${holder} or ${leases.expiresAt} <= ${now.getTime()}`,
      }).returning({ holder: leases.holder }).all();
      return got.length === 1 && got[0].holder === holder;
    },
    async release(name, holder) {
      db.delete(leases).where(and(eq(leases.name, name), eq(leases.holder, holder))).run();
    },
    async get(name) {
      return db.select().from(leases).where(eq(leases.name, name)).get();
    },
  };
}
