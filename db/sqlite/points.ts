/**
 * @layer adapter
 * PointStore over SQLite: restore points, their disks and their chains. `record` is the one
 * place a point is written: in one transaction it checks that the job is still live and that an
 * incremental's parent is the head of the open chain, closes the old chain when a full starts a
 * new one, inserts the point and its disks, and finishes the job.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, count, desc, eq, inArray, isNull, sql, sum } from 'drizzle-orm';
import { backupJobs, chains, restorePointDisks, restorePoints, type JobStatus } from '../schema.ts';
import { StoreError, type PointStore } from '../store.ts';
import type { Db } from './db.ts';
import { insertPoint } from './point-rows.ts';
import { createPointListing } from './point-list.ts';

const LIVE: JobStatus[] = ['running', 'cancelling'];

export function createPointStore(db: Db): PointStore {
  const live = and(isNull(restorePoints.deletedAt));
  const listing = createPointListing(db);
  const newestOfChain = (chainId: string) => db.select().from(restorePoints)
    .where(and(eq(restorePoints.chainId, chainId), isNull(restorePoints.deletedAt)))
    .orderBy(desc(restorePoints.createdAt), desc(restorePoints.recordedAt)).limit(1).get();
  const disksOf = (pointId: string) => db.select().from(restorePointDisks).where(eq(restorePointDisks.restorePointId, pointId))
    .orderBy(asc(restorePointDisks.diskIndex)).all();

  return {
    async listForVm(vmId, p) {
      return listing.page(vmId, p);
    },
    async countForVm(vmId) {
      return listing.count(vmId);
    },
    async get(id) {
      const point = db.select().from(restorePoints).where(eq(restorePoints.id, id)).get();
      return point && { ...point, disks: disksOf(id) };
    },
    async chainHead(vmId, repositoryId) {
      const chain = db.select().from(chains)
        .where(and(eq(chains.platformVmId, vmId), eq(chains.repositoryId, repositoryId), eq(chains.state, 'open')))
        .orderBy(desc(chains.startedAt)).limit(1).get();
      if (!chain) return undefined;
      const point = newestOfChain(chain.id);
      return point && { chain, point, disks: disksOf(point.id) };
    },
    async record(rec) {
      const m = rec.manifest;
      return db.transaction((tx) => {
        const job = tx.select().from(backupJobs).where(eq(backupJobs.id, rec.jobId)).get();
        if (!job) throw new StoreError('notfound', `job ${rec.jobId} does not exist`);
        if (!LIVE.includes(job.status)) throw new StoreError('conflict', `job ${rec.jobId} is ${job.status}: no point is recorded for it`);
        const at = new Date(m.created_at);
        let chainId: string;
        let parentId: string | null = null;
        if (rec.chain.kind === 'new') {
          chainId = randomUUID();
          tx.update(chains).set({ state: 'closed', stateReason: `a full backup started chain ${chainId}` })
            .where(and(eq(chains.platformVmId, rec.platformVmId), eq(chains.repositoryId, rec.repositoryId), eq(chains.state, 'open'))).run();
          tx.insert(chains).values({
            id: chainId, platformVmId: rec.platformVmId, sourcePlatform: rec.sourcePlatform, repositoryId: rec.repositoryId,
            length: 1, state: 'open', startedAt: at, lastPointAt: at,
          }).run();
        } else {
          chainId = rec.chain.chainId;
          const chain = tx.select().from(chains).where(eq(chains.id, chainId)).get();
          if (!chain || chain.state !== 'open') throw new StoreError('conflict', `chain ${chainId} is not open: incremental point ${m.id} cannot join it`);
          const head = newestOfChain(chainId);
          if (!head || head.id !== rec.chain.parentId) {
            throw new StoreError('conflict', `incremental point ${m.id}: its parent is no longer the head of chain ${chainId}`);
          }
          parentId = head.id;
          tx.update(chains).set({ length: sql`${chains.length} + 1`, lastPointAt: at }).where(eq(chains.id, chainId)).run();
        }
        const id = insertPoint(tx, m, {
          platformVmId: rec.platformVmId, sourcePlatform: rec.sourcePlatform, repositoryId: rec.repositoryId, chainId, parentId, jobId: rec.jobId, volumeIds: rec.volumeIds,
        });
        const { changes } = tx.update(backupJobs).set({ ...rec.jobPatch, updatedAt: new Date() })
          .where(and(eq(backupJobs.id, rec.jobId), inArray(backupJobs.status, LIVE))).run();
        if (!changes) throw new StoreError('conflict', `job ${rec.jobId} changed while its point was recorded`);
        return tx.select().from(restorePoints).where(eq(restorePoints.id, id)).get()!;
      });
    },
    async usage() {
      const rows = db.select({
        repositoryId: restorePoints.repositoryId, sourcePlatform: restorePoints.sourcePlatform,
        points: count(), bytes: sum(restorePoints.sizeBytes),
      }).from(restorePoints).where(live).groupBy(restorePoints.repositoryId, restorePoints.sourcePlatform).all();
      return rows.map((r) => ({ ...r, bytes: Number(r.bytes ?? 0) }));
    },
    async allForVm(vmId, repositoryId) {
      const cond = and(eq(restorePoints.platformVmId, vmId), live, repositoryId ? eq(restorePoints.repositoryId, repositoryId) : undefined);
      return db.select().from(restorePoints).where(cond).orderBy(asc(restorePoints.createdAt), asc(restorePoints.pointId)).all();
    },
    async usageByVm(repositoryId) {
      const rows = db.select({
        platformVmId: restorePoints.platformVmId, repositoryId: restorePoints.repositoryId, sourcePlatform: restorePoints.sourcePlatform,
        points: count(), bytes: sum(restorePoints.sizeBytes),
      }).from(restorePoints).where(and(live, repositoryId ? eq(restorePoints.repositoryId, repositoryId) : undefined))
        .groupBy(restorePoints.platformVmId, restorePoints.repositoryId, restorePoints.sourcePlatform).all();
      return rows.map((r) => ({ ...r, bytes: Number(r.bytes ?? 0) })).sort((a, b) => b.bytes - a.bytes || a.platformVmId.localeCompare(b.platformVmId));
    },
    async countByVerification() {
      const out = { unverified: 0, verified: 0, failed: 0 };
      for (const r of db.select({ s: restorePoints.verificationStatus, n: count() }).from(restorePoints).where(live).groupBy(restorePoints.verificationStatus).all()) out[r.s] = r.n;
      return out;
    },
    async total() {
      const r = db.select({ points: count(), bytes: sum(restorePoints.sizeBytes) }).from(restorePoints).where(live).get();
      return { points: r?.points ?? 0, bytes: Number(r?.bytes ?? 0) };
    },
  };
}
