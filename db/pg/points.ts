/**
 * @layer adapter
 * PointStore over PostgreSQL: restore points, their disks and their chains. `record` is the one
 * place a point is written (as db/sqlite/points.ts): in one transaction, under the VM's lock
 * (db.ts `lockVm`, so two instances recording for one VM queue), it checks that the job is still
 * live (its row locked `FOR UPDATE`) and that an incremental's parent is the head of the open
 * chain, closes the old chain when a full starts a new one, inserts the point and its disks, and
 * finishes the job.
 *
 * Listing order: newest first, equal times the later recorded first (`recorded_at` is set to
 * `clock_timestamp()`, which moves inside a transaction: insertion order, like SQLite's rowid).
 */
import { randomUUID } from 'node:crypto';
import { and, asc, count, desc, eq, inArray, isNull, sql, sum } from 'drizzle-orm';
import type { PointManifest } from '../../agent/repository/manifest.ts';
import type { JobStatus, RestorePoint, SourcePlatform } from '../schema.ts';
import type { PointPlace } from '../store.ts';
import { StoreError, type PointStore } from '../store.ts';
import { backupJobs, chains, restorePointDisks, restorePoints } from './schema.ts';
import { guard, lockVm, page, type PgDb, type PgTx } from './db.ts';

const LIVE: JobStatus[] = ['running', 'cancelling'];


/** Inserts the point and its disks (a backup's `record` and an import); returns the point's database id. */
export async function insertPoint(tx: PgTx, m: PointManifest, at: PointPlace): Promise<string> {
  const id = randomUUID();
  await guard(`point ${m.id} of VM ${at.platformVmId}`, () => tx.insert(restorePoints).values({
    id, pointId: m.id, platformVmId: at.platformVmId, sourcePlatform: at.sourcePlatform, repositoryId: at.repositoryId,
    chainId: at.chainId, parentId: at.parentId, jobId: at.jobId, type: m.type, reason: m.reason, consistency: m.consistency,
    sizeBytes: m.disks.reduce((a, d) => a + d.file_size, 0),
    virtualSizeBytes: m.disks.reduce((a, d) => a + d.virtual_size, 0),
    bytesWritten: m.disks.reduce((a, d) => a + d.bytes_written, 0),
    // clock_timestamp() moves inside a transaction (µs): insertion order, the listing's tie-break
    manifest: m, platformMetadata: at.platformMetadata ?? null, createdAt: new Date(m.created_at), recordedAt: sql`clock_timestamp()`,
  }));
  if (m.disks.length) {
    await tx.insert(restorePointDisks).values(m.disks.map((d) => ({
      id: randomUUID(), restorePointId: id, diskIndex: d.index, target: d.target,
      volumeId: at.volumeIds?.[d.index] ?? (typeof d.volume_id === 'string' ? d.volume_id : null),
      type: d.type, image: d.image, backing: d.backing, checkpoint: d.checkpoint,
      virtualSizeBytes: d.virtual_size, fileSizeBytes: d.file_size, contentSha256: d.content_sha256,
    })));
  }
  return id;
}

export function createPointStore(db: PgDb): PointStore {
  const live = isNull(restorePoints.deletedAt);
  const order = [desc(restorePoints.createdAt), desc(restorePoints.recordedAt), desc(restorePoints.id)];
  const newestOfChain = async (q: PgDb | PgTx, chainId: string): Promise<RestorePoint | undefined> => (await q.select().from(restorePoints)
    .where(and(eq(restorePoints.chainId, chainId), live)).orderBy(...order).limit(1))[0];
  const disksOf = (pointId: string) => db.select().from(restorePointDisks).where(eq(restorePointDisks.restorePointId, pointId))
    .orderBy(asc(restorePointDisks.diskIndex));

  return {
    async listForVm(vmId, p) {
      const { limit, offset } = page(p);
      return db.select().from(restorePoints).where(and(eq(restorePoints.platformVmId, vmId), live)).orderBy(...order).limit(limit).offset(offset);
    },
    async countForVm(vmId) {
      return (await db.select({ n: count() }).from(restorePoints).where(and(eq(restorePoints.platformVmId, vmId), live)))[0]?.n ?? 0;
    },
    async get(id) {
      const point = (await db.select().from(restorePoints).where(eq(restorePoints.id, id)))[0];
      return point && { ...point, disks: await disksOf(id) };
    },
    async chainHead(vmId, repositoryId) {
      const chain = (await db.select().from(chains)
        .where(and(eq(chains.platformVmId, vmId), eq(chains.repositoryId, repositoryId), eq(chains.state, 'open')))
        .orderBy(desc(chains.startedAt)).limit(1))[0];
      if (!chain) return undefined;
      const point = await newestOfChain(db, chain.id);
      return point && { chain, point, disks: await disksOf(point.id) };
    },
    async record(rec) {
      const m = rec.manifest;
      return db.transaction(async (tx) => {
        await lockVm(tx, rec.platformVmId, rec.repositoryId);
        const job = (await tx.select().from(backupJobs).where(eq(backupJobs.id, rec.jobId)).for('update'))[0];
        if (!job) throw new StoreError('notfound', `job ${rec.jobId} does not exist`);
        if (!LIVE.includes(job.status)) throw new StoreError('conflict', `job ${rec.jobId} is ${job.status}: no point is recorded for it`);
        const at = new Date(m.created_at);
        let chainId: string;
        let parentId: string | null = null;
        if (rec.chain.kind === 'new') {
          chainId = randomUUID();
          await tx.update(chains).set({ state: 'closed', stateReason: `a full backup started chain ${chainId}` })
            .where(and(eq(chains.platformVmId, rec.platformVmId), eq(chains.repositoryId, rec.repositoryId), eq(chains.state, 'open')));
          await tx.insert(chains).values({
            id: chainId, platformVmId: rec.platformVmId, sourcePlatform: rec.sourcePlatform, repositoryId: rec.repositoryId,
            length: 1, state: 'open', startedAt: at, lastPointAt: at,
          });
        } else {
          chainId = rec.chain.chainId;
          const chain = (await tx.select().from(chains).where(eq(chains.id, chainId)))[0];
          if (!chain || chain.state !== 'open') throw new StoreError('conflict', `chain ${chainId} is not open: incremental point ${m.id} cannot join it`);
          const head = await newestOfChain(tx, chainId);
          if (!head || head.id !== rec.chain.parentId) {
            throw new StoreError('conflict', `incremental point ${m.id}: its parent is no longer the head of chain ${chainId}`);
          }
          parentId = head.id;
          await tx.update(chains).set({ length: sql`${chains.length} + 1`, lastPointAt: at }).where(eq(chains.id, chainId));
        }
        const id = await insertPoint(tx, m, {
          platformVmId: rec.platformVmId, sourcePlatform: rec.sourcePlatform, repositoryId: rec.repositoryId, chainId, parentId, jobId: rec.jobId, volumeIds: rec.volumeIds,
        });
        const done = await tx.update(backupJobs).set({ ...rec.jobPatch, updatedAt: new Date() })
          .where(and(eq(backupJobs.id, rec.jobId), inArray(backupJobs.status, LIVE))).returning({ id: backupJobs.id });
        if (!done.length) throw new StoreError('conflict', `job ${rec.jobId} changed while its point was recorded`);
        return (await tx.select().from(restorePoints).where(eq(restorePoints.id, id)))[0]!;
      });
    },
    async usage() {
      const rows = await db.select({
        repositoryId: restorePoints.repositoryId, sourcePlatform: restorePoints.sourcePlatform,
        points: count(), bytes: sum(restorePoints.sizeBytes),
      }).from(restorePoints).where(live).groupBy(restorePoints.repositoryId, restorePoints.sourcePlatform)
        .orderBy(asc(restorePoints.repositoryId), asc(restorePoints.sourcePlatform));
      return rows.map((r) => ({ ...r, bytes: Number(r.bytes ?? 0) }));
    },
    async allForVm(vmId, repositoryId) {
      const cond = and(eq(restorePoints.platformVmId, vmId), live, repositoryId ? eq(restorePoints.repositoryId, repositoryId) : undefined);
      return db.select().from(restorePoints).where(cond).orderBy(asc(restorePoints.createdAt), asc(restorePoints.pointId));
    },
    async usageByVm(repositoryId) {
      const rows = await db.select({
        platformVmId: restorePoints.platformVmId, repositoryId: restorePoints.repositoryId, sourcePlatform: restorePoints.sourcePlatform,
        points: count(), bytes: sum(restorePoints.sizeBytes),
      }).from(restorePoints).where(and(live, repositoryId ? eq(restorePoints.repositoryId, repositoryId) : undefined))
        .groupBy(restorePoints.platformVmId, restorePoints.repositoryId, restorePoints.sourcePlatform);
      return rows.map((r) => ({ ...r, bytes: Number(r.bytes ?? 0) })).sort((a, b) => b.bytes - a.bytes || a.platformVmId.localeCompare(b.platformVmId));
    },
    async countByVerification() {
      const out = { unverified: 0, verified: 0, failed: 0 };
      for (const r of await db.select({ s: restorePoints.verificationStatus, n: count() }).from(restorePoints).where(live).groupBy(restorePoints.verificationStatus)) out[r.s] = r.n;
      return out;
    },
    async total() {
      const r = (await db.select({ points: count(), bytes: sum(restorePoints.sizeBytes) }).from(restorePoints).where(live))[0];
      return { points: r?.points ?? 0, bytes: Number(r?.bytes ?? 0) };
    },
  };
}
