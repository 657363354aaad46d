/**
 * @layer adapter
 * JobStore and RestoreStore over PostgreSQL (backup_jobs, restores). A scoped list joins the VM
 * (cloudstack_vms) to see whose it is; `update` with `expect` is a compare-and-set on the status:
 * one `UPDATE … WHERE id = $1 AND status IN (…)`, which PostgreSQL re-checks against a concurrent
 * writer's committed row, so of two instances racing only one wins.
 */
import { and, asc, count, desc, eq, getTableColumns, inArray, type SQL } from 'drizzle-orm';
import { JOB_STATUSES, type BackupJob, type JobStatus, type Restore } from '../schema.ts';
import type { JobFilter, JobStore, RestoreFilter, RestoreStore } from '../store.ts';
import { UNFINISHED } from '../sqlite/jobs.ts';
import { UNFINISHED_RESTORES } from '../sqlite/restores.ts';
import { backupJobs, cloudstackVms, restores } from './schema.ts';
import { changed, guard, page, scopeCondition, type PgDb } from './db.ts';
import { jobActivity } from './job-activity.ts';

function jobWhere(f: JobFilter): SQL | undefined {
  const conds: (SQL | undefined)[] = [scopeCondition(f.scope)];
  if (f.vmId) conds.push(eq(backupJobs.platformVmId, f.vmId));
  if (f.hostId) conds.push(eq(backupJobs.kvmHostId, f.hostId));
  if (f.status?.length) conds.push(inArray(backupJobs.status, f.status));
  return and(...conds);
}

const scoped = (f: { scope?: { kind: string } }) => f.scope !== undefined && f.scope.kind !== 'all';

export function createJobStore(db: PgDb): JobStore {
  const get = async (id: string): Promise<BackupJob | undefined> => (await db.select().from(backupJobs).where(eq(backupJobs.id, id)))[0];
  return {
    async create(job) {
      await guard(`job ${job.id}`, () => db.insert(backupJobs).values(job));
      return (await get(job.id))!;
    },
    get,
    async list(f = {}) {
      const p = page(f);
      const q = db.select(getTableColumns(backupJobs)).from(backupJobs);
      const joined = scoped(f) ? q.innerJoin(cloudstackVms, eq(cloudstackVms.id, backupJobs.platformVmId)) : q;
      return joined.where(jobWhere(f)).orderBy(desc(backupJobs.queuedAt), desc(backupJobs.id)).limit(p.limit).offset(p.offset);
    },
    async count(f = {}) {
      const q = db.select({ n: count() }).from(backupJobs);
      const joined = scoped(f) ? q.innerJoin(cloudstackVms, eq(cloudstackVms.id, backupJobs.platformVmId)) : q;
      return (await joined.where(jobWhere(f)))[0]?.n ?? 0;
    },
    async unfinished() {
      return db.select().from(backupJobs).where(inArray(backupJobs.status, UNFINISHED)).orderBy(asc(backupJobs.queuedAt), asc(backupJobs.id));
    },
    async update(id, patch, expect) {
      const cond = expect ? and(eq(backupJobs.id, id), inArray(backupJobs.status, expect)) : eq(backupJobs.id, id);
      const rows = await db.update(backupJobs).set({ ...patch, updatedAt: patch.updatedAt ?? new Date() }).where(cond).returning();
      return rows[0];
    },
    async countByStatus() {
      const out = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
      for (const r of await db.select({ status: backupJobs.status, n: count() }).from(backupJobs).groupBy(backupJobs.status)) out[r.status] = r.n;
      return out;
    },
    activity: jobActivity(db),
  };
}

function restoreWhere(f: RestoreFilter): SQL | undefined {
  const conds: (SQL | undefined)[] = [scopeCondition(f.scope)];
  if (f.vmId) conds.push(eq(restores.platformVmId, f.vmId));
  if (f.status?.length) conds.push(inArray(restores.status, f.status));
  return and(...conds);
}

export function createRestoreStore(db: PgDb): RestoreStore {
  const get = async (id: string): Promise<Restore | undefined> => (await db.select().from(restores).where(eq(restores.id, id)))[0];
  return {
    async create(r) {
      await guard(`restore ${r.id}`, () => db.insert(restores).values({ updatedAt: new Date(), ...r }));
      return (await get(r.id))!;
    },
    get,
    async list(f = {}) {
      const p = page(f);
      const q = db.select(getTableColumns(restores)).from(restores);
      const joined = scoped(f) ? q.innerJoin(cloudstackVms, eq(cloudstackVms.id, restores.platformVmId)) : q;
      return joined.where(restoreWhere(f)).orderBy(desc(restores.createdAt), desc(restores.id)).limit(p.limit).offset(p.offset);
    },
    async count(f = {}) {
      const q = db.select({ n: count() }).from(restores);
      const joined = scoped(f) ? q.innerJoin(cloudstackVms, eq(cloudstackVms.id, restores.platformVmId)) : q;
      return (await joined.where(restoreWhere(f)))[0]?.n ?? 0;
    },
    async unfinished() {
      return db.select().from(restores).where(inArray(restores.status, UNFINISHED_RESTORES)).orderBy(asc(restores.createdAt), asc(restores.id));
    },
    async update(id, patch, expect) {
      const cond = expect ? and(eq(restores.id, id), inArray(restores.status, expect)) : eq(restores.id, id);
      const r = await db.update(restores).set({ ...patch, updatedAt: patch.updatedAt ?? new Date() }).where(cond).returning();
      return r[0];
    },
  };
}

export { changed };
