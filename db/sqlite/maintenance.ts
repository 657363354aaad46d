/**
 * @layer adapter
 * MaintenanceStore over SQLite (maintenance_jobs): prune, verify and import jobs, and the
 * transactions that write their outcome together with the job's end (db/store.ts contract):
 * `applyPrune` (rechain.ts), verification results per point, `applyImport` (import.ts).
 */
import { and, asc, count, desc, eq, inArray, type SQL } from 'drizzle-orm';
import { maintenanceJobs, repositories, restorePoints, type MaintenanceStatus } from '../schema.ts';
import { StoreError, type MaintenanceFilter, type MaintenanceStore } from '../store.ts';
import { guard, page, type Db } from './db.ts';
import { applyImport } from './import.ts';
import { applyPrune } from './rechain.ts';

const UNFINISHED: MaintenanceStatus[] = ['queued', 'running'];

function where(f: MaintenanceFilter): SQL | undefined {
  const conds: SQL[] = [];
  if (f.vmId) conds.push(eq(maintenanceJobs.platformVmId, f.vmId));
  if (f.kind) conds.push(eq(maintenanceJobs.kind, f.kind));
  if (f.repositoryId) conds.push(eq(maintenanceJobs.repositoryId, f.repositoryId));
  if (f.status?.length) conds.push(inArray(maintenanceJobs.status, f.status));
  return conds.length ? and(...conds) : undefined;
}

export function createMaintenanceStore(db: Db): MaintenanceStore {
  const get = (id: string) => db.select().from(maintenanceJobs).where(eq(maintenanceJobs.id, id)).get();
  type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
  /** the running job, or a conflict: only a running job's outcome is written */
  const running = (tx: Tx, id: string) => {
    const job = tx.select().from(maintenanceJobs).where(eq(maintenanceJobs.id, id)).get();
    if (!job) throw new StoreError('notfound', `maintenance job ${id} does not exist`);
    if (job.status !== 'running') throw new StoreError('conflict', `maintenance job ${id} is ${job.status}: its outcome is not recorded`);
    return job;
  };
  const finish = (tx: Tx, id: string, patch: Partial<typeof maintenanceJobs.$inferInsert>) => {
    tx.update(maintenanceJobs).set(patch).where(eq(maintenanceJobs.id, id)).run();
    return tx.select().from(maintenanceJobs).where(eq(maintenanceJobs.id, id)).get()!;
  };

  return {
    async create(job) {
      guard(`maintenance job ${job.id}`, () => db.insert(maintenanceJobs).values(job).run());
      return get(job.id)!;
    },
    async get(id) {
      return get(id);
    },
    async list(f = {}) {
      const p = page(f);
      return db.select().from(maintenanceJobs).where(where(f)).orderBy(desc(maintenanceJobs.queuedAt), desc(maintenanceJobs.id)).limit(p.limit).offset(p.offset).all();
    },
    async count(f = {}) {
      return db.select({ n: count() }).from(maintenanceJobs).where(where(f)).get()?.n ?? 0;
    },
    async unfinished() {
      return db.select().from(maintenanceJobs).where(inArray(maintenanceJobs.status, UNFINISHED)).orderBy(asc(maintenanceJobs.queuedAt)).all();
    },
    async update(id, patch, expect) {
      const cond = expect ? and(eq(maintenanceJobs.id, id), inArray(maintenanceJobs.status, expect)) : eq(maintenanceJobs.id, id);
      const { changes } = db.update(maintenanceJobs).set(patch).where(cond).run();
      return changes ? get(id) : undefined;
    },
    async finishPrune(id, outcome, at) {
      return db.transaction((tx) => {
        const job = running(tx, id);
        if (!job.platformVmId) throw new StoreError('invalid', `maintenance job ${id} names no VM: nothing to prune`);
        const applied = applyPrune(tx, job.platformVmId, job.repositoryId, outcome, at);
        return finish(tx, id, {
          status: 'succeeded', finishedAt: at,
          result: { ...outcome, chains: applied.chains, ...(applied.unknown.length ? { notRecorded: applied.unknown } : {}) },
        });
      });
    },
    async finishVerify(id, outcome, at) {
      return db.transaction((tx) => {
        const job = running(tx, id);
        if (!job.platformVmId) throw new StoreError('invalid', `maintenance job ${id} names no VM: nothing verified`);
        for (const p of outcome.points) {
          tx.update(restorePoints).set({
            verificationStatus: p.ok ? 'verified' : 'failed', verifiedAt: at, verificationProblems: p.problems, verificationJobId: id,
          }).where(and(eq(restorePoints.platformVmId, job.platformVmId), eq(restorePoints.repositoryId, job.repositoryId), eq(restorePoints.pointId, p.pointId))).run();
        }
        const failed = outcome.points.filter((p) => !p.ok);
        return finish(tx, id, {
          status: failed.length ? 'failed' : 'succeeded', finishedAt: at, result: { ...outcome },
          ...(failed.length ? {
            errorCode: 'verification_failed',
            error: `[verification] ${failed.length} of ${outcome.points.length} point(s) failed: ${failed.map((p) => `${p.pointId}: ${p.problems.join('; ') || 'failed'}`).join(' | ')}`,
          } : {}),
        });
      });
    },
    async finishImport(id, scan, at) {
      return db.transaction((tx) => {
        const job = running(tx, id);
        const applied = applyImport(tx, job.repositoryId, scan.vms);
        if (scan.usedBytes !== undefined) tx.update(repositories).set({ usedBytes: scan.usedBytes, updatedAt: at }).where(eq(repositories.id, job.repositoryId)).run();
        const done = finish(tx, id, { status: 'succeeded', finishedAt: at, result: { ...applied, usedBytes: scan.usedBytes ?? null } });
        return { job: done, applied };
      });
    },
  };
}
