/**
 * @layer adapter
 * VmStore over SQLite: the CloudStack VMs discovery found (cloudstack_vms) and their disks.
 */
import { and, asc, count, eq, inArray, isNull, notInArray, or, sql, type SQL } from 'drizzle-orm';
import { cloudstackVms, disks, type NewCloudStackVm, type NewDisk } from '../schema.ts';
import type { VmFilter, VmStore } from '../store.ts';
import { page, scopeCondition, type Db } from './db.ts';

function where(f: VmFilter = {}): SQL | undefined {
  const conds: (SQL | undefined)[] = [scopeCondition(f.scope)];
  if (!f.includeRemoved) conds.push(isNull(cloudstackVms.removedAt));
  if (f.hostId) conds.push(eq(cloudstackVms.hostId, f.hostId));
  if (f.zoneId) conds.push(eq(cloudstackVms.zoneId, f.zoneId));
  if (f.search) {
    const pat = `%${f.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    conds.push(or(
      sql`lower(${cloudstackVms.name}) like ${pat} escape '\\'`,
      sql`lower(coalesce(${cloudstackVms.displayName}, '')) like ${pat} escape '\\'`,
    ));
  }
  return and(...conds.filter((c): c is SQL => c !== undefined));
}

/** the columns an upsert overwrites: all but the id and createdAt */
function updateSet(row: NewCloudStackVm) {
  const { id: _id, createdAt: _c, ...rest } = row;
  return { ...rest, removedAt: null, updatedAt: new Date() };
}

export function createVmStore(db: Db): VmStore {
  return {
    async list(f = {}) {
      const p = page(f);
      return db.select().from(cloudstackVms).where(where(f)).orderBy(asc(cloudstackVms.name), asc(cloudstackVms.id)).limit(p.limit).offset(p.offset).all();
    },
    async count(f = {}) {
      return db.select({ n: count() }).from(cloudstackVms).where(where(f)).get()?.n ?? 0;
    },
    async all() {
      return db.select().from(cloudstackVms).orderBy(asc(cloudstackVms.id)).all();
    },
    async get(id) {
      return db.select().from(cloudstackVms).where(eq(cloudstackVms.id, id)).get();
    },
    async upsert(rows) {
      db.transaction((tx) => {
        for (const row of rows) {
          tx.insert(cloudstackVms).values(row).onConflictDoUpdate({ target: cloudstackVms.id, set: updateSet(row) }).run();
        }
      });
    },
    async markRemoved(ids, at) {
      if (ids.length === 0) return;
      db.update(cloudstackVms).set({ removedAt: at, updatedAt: at }).where(and(inArray(cloudstackVms.id, ids), isNull(cloudstackVms.removedAt))).run();
    },
    async disks(vmId) {
      return db.select().from(disks).where(and(eq(disks.vmId, vmId), isNull(disks.removedAt))).orderBy(asc(disks.deviceId)).all();
    },
    async replaceDisks(vmId, rows: NewDisk[], at) {
      db.transaction((tx) => {
        for (const row of rows) {
          const { id: _id, ...rest } = row;
          tx.insert(disks).values({ ...row, vmId }).onConflictDoUpdate({ target: disks.id, set: { ...rest, vmId, removedAt: null } }).run();
        }
        const keep = rows.map((r) => r.id);
        tx.update(disks).set({ removedAt: at })
          .where(and(eq(disks.vmId, vmId), isNull(disks.removedAt), keep.length ? notInArray(disks.id, keep) : undefined)).run();
      });
    },
  };
}
