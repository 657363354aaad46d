/**
 * @layer adapter
 * JobStore over SQLite (backup_jobs). A scoped list joins the job's VM (cloudstack_vms) to see
 * whose it is; `update` with `expect` is a compare-and-set on the status.
 */
import { and, asc, count, desc, eq, getTableColumns, inArray, type SQL } from 'drizzle-orm';
import { backupJobs, cloudstackVms, JOB_STATUSES, type JobStatus } from '../schema.ts';
import type { JobFilter, JobStore } from '../store.ts';
import { guard, page, scopeCondition, type Db } from './db.ts';
import { jobActivity } from './job-activity.ts';

export const UNFINISHED: JobStatus[] = ['queued', 'dispatching', 'running', 'cancelling'];

function where(f: JobFilter): SQL | undefined {
  const conds: (SQL | undefined)[] = [scopeCondition(f.scope)];
  if (f.vmId) conds.push(eq(backupJobs.platformVmId, f.vmId));
  if (f.hostId) conds.push(eq(backupJobs.kvmHostId, f.hostId));
  if (f.status?.length) conds.push(inArray(backupJobs.status, f.status));
  return and(...conds.filter((c): c is SQL => c !== undefined));
}

export function createJobStore(db: Db): JobStore {
  const get = (id: string) => db.select().from(backupJobs).where(eq(backupJobs.id, id)).get();
  const scoped = (f: JobFilter) => f.scope && f.scope.kind !== 'all';
  return {
    async create(job) {
      guard(`job ${job.id}`, () => db.insert(backupJobs).values(job).run());
      return get(job.id)!;
    },
    async get(id) {
      return get(id);
    },
    async list(f = {}) {
      const p = page(f);
      const q = db.select(getTableColumns(backupJobs)).from(backupJobs);
      const joined = scoped(f) ? q.innerJoin(cloudstackVms, eq(cloudstackVms.id, backupJobs.platformVmId)) : q;
      return joined.where(where(f)).orderBy(desc(backupJobs.queuedAt), desc(backupJobs.id)).limit(p.limit).offset(p.offset).all();
    },
    async count(f = {}) {
      const q = db.select({ n: count() }).from(backupJobs);
      const joined = scoped(f) ? q.innerJoin(cloudstackVms, eq(cloudstackVms.id, backupJobs.platformVmId)) : q;
      return joined.where(where(f)).get()?.n ?? 0;
    },
    async unfinished() {
      return db.select().from(backupJobs).where(inArray(backupJobs.status, UNFINISHED)).orderBy(asc(backupJobs.queuedAt), asc(backupJobs.id)).all();
    },
    async update(id, patch, expect) {
      const cond = expect ? and(eq(backupJobs.id, id), inArray(backupJobs.status, expect)) : eq(backupJobs.id, id);
      const { changes } = db.update(backupJobs).set({ ...patch, updatedAt: patch.updatedAt ?? new Date() }).where(cond).run();
      return changes ? get(id) : undefined;
    },
    async countByStatus() {
      const out = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
      for (const r of db.select({ status: backupJobs.status, n: count() }).from(backupJobs).groupBy(backupJobs.status).all()) out[r.status] = r.n;
      return out;
    },
    activity: jobActivity(db),
  };
}
