/**
 * @layer adapter
 * JobStore.activity over PostgreSQL, as db/sqlite/job-activity.ts does it over SQLite: backups
 * of the VMs in scope queued in a window, by status, and the bytes succeeded ones wrote per UTC day.
 */
import { and, count, eq, gte, sql, sum, type SQL } from 'drizzle-orm';
import { JOB_STATUSES, type JobStatus } from '../schema.ts';
import { backupJobs, cloudstackVms } from './schema.ts';
import type { JobStore } from '../store.ts';
import { scopeCondition, type PgDb } from './db.ts';

export function jobActivity(db: PgDb): JobStore['activity'] {
  return async ({ scope, since, daysSince }) => {
    const scoped = scope !== undefined && scope.kind !== 'all';
    const byStatus = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    const s1 = db.select({ status: backupJobs.status, n: count() }).from(backupJobs);
    const rows = await (scoped ? s1.innerJoin(cloudstackVms, eq(cloudstackVms.id, backupJobs.platformVmId)) : s1)
      .where(and(scopeCondition(scope), gte(backupJobs.queuedAt, since))).groupBy(backupJobs.status);
    for (const r of rows) byStatus[r.status] = r.n;
    const day: SQL<string> = sql<string>`to_char(${backupJobs.finishedAt} at time zone 'UTC', 'YYYY-MM-DD')`;
    const s2 = db.select({ day, bytes: sum(backupJobs.bytesWritten) }).from(backupJobs);
    const days = await (scoped ? s2.innerJoin(cloudstackVms, eq(cloudstackVms.id, backupJobs.platformVmId)) : s2)
      .where(and(scopeCondition(scope), eq(backupJobs.status, 'succeeded'), gte(backupJobs.finishedAt, daysSince))).groupBy(day).orderBy(day);
    return { byStatus, bytesPerDay: days.map((d) => ({ day: d.day, bytes: Number(d.bytes ?? 0) })) };
  };
}
