/**
 * @layer adapter
 * VmStore over SQLite: the CloudStack VMs discovery found (cloudstack_vms) and their disks.
 */
import { and, asc, count, eq, inArray, isNull, notInArray, or, sql, type SQL } from 'drizzle-orm';
import { backupJobs, chains, cloudstackVms, disks, restorePoints, type NewCloudStackVm, type NewDisk } from '../schema.ts';
import { PROTECTIONS, type Protection, type VmFilter, type VmStore } from '../store.ts';
import { page, scopeCondition, type Db } from './db.ts';
import { assembleProtection, protectionSql, vmOrder } from './vm-protection.ts';

const TABLES = { vms: cloudstackVms, jobs: backupJobs, points: restorePoints };
const P = protectionSql(TABLES);

function where(f: VmFilter = {}): SQL | undefined {
  const conds: (SQL | undefined)[] = [scopeCondition(f.scope)];
  if (!f.includeRemoved) conds.push(isNull(cloudstackVms.removedAt));
  if (f.hostId) conds.push(eq(cloudstackVms.hostId, f.hostId));
  if (f.zoneId) conds.push(eq(cloudstackVms.zoneId, f.zoneId));
  if (f.account) conds.push(eq(cloudstackVms.account, f.account));
  if (f.domainId) conds.push(eq(cloudstackVms.domainId, f.domainId));
  if (f.protection) conds.push(sql`${P.status} = ${f.protection}`);
  if (f.platform) conds.push(sql`${P.platform} = ${f.platform}`);
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
      return db.select().from(cloudstackVms).where(where(f)).orderBy(...vmOrder(TABLES, P, f.sort, f.descending)).limit(p.limit).offset(p.offset).all();
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
    async protection(ids) {
      if (ids.length === 0) return [];
      const rp = restorePoints;
      const live = and(inArray(rp.platformVmId, ids), isNull(rp.deletedAt));
      const newestPoint = db.select({ id: rp.id, rn: sql<number>`row_number() over (partition by ${rp.platformVmId} order by ${rp.createdAt} desc, ${rp.id} desc)`.as('rn') })
        .from(rp).where(live).as('newest_point');
      const newestJob = db.select({ id: backupJobs.id, rn: sql<number>`row_number() over (partition by ${backupJobs.platformVmId} order by ${backupJobs.queuedAt} desc, ${backupJobs.id} desc)`.as('rn') })
        .from(backupJobs).where(inArray(backupJobs.platformVmId, ids)).as('newest_job');
      const lastPoints = db.select().from(rp).where(inArray(rp.id, db.select({ id: newestPoint.id }).from(newestPoint).where(eq(newestPoint.rn, 1)))).all();
      const chainIds = [...new Set(lastPoints.map((x) => x.chainId))];
      return assembleProtection({
        ids,
        facts: db.select({ id: cloudstackVms.id, status: P.status, platform: P.platform }).from(cloudstackVms).where(inArray(cloudstackVms.id, ids)).all(),
        counts: db.select({ vmId: rp.platformVmId, n: count() }).from(rp).where(live).groupBy(rp.platformVmId).all(),
        lastPoints,
        lastJobs: db.select().from(backupJobs).where(inArray(backupJobs.id, db.select({ id: newestJob.id }).from(newestJob).where(eq(newestJob.rn, 1)))).all(),
        chains: chainIds.length ? db.select({ id: chains.id, length: chains.length }).from(chains).where(inArray(chains.id, chainIds)).all() : [],
      });
    },
    async protectionCounts(scope) {
      const each = db.select({ status: sql<Protection>`${P.status}`.as('status') }).from(cloudstackVms)
        .where(and(scopeCondition(scope), isNull(cloudstackVms.removedAt))).as('each_vm');
      const rows = db.select({ status: each.status, n: count() }).from(each).groupBy(sql`${each.status}`).all();
      const out = { vms: 0, ...Object.fromEntries(PROTECTIONS.map((x) => [x, 0])) } as Record<Protection | 'vms', number>;
      for (const r of rows) { out[r.status] += r.n; out.vms += r.n; }
      return out;
    },
  };
}
