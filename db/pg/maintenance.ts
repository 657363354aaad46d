/**
 * @layer adapter
 * MaintenanceStore over PostgreSQL (maintenance_jobs): prune, verify and import jobs, and the
 * transactions that write their outcome together with the job's end (db/store.ts contract). The
 * re-rooting of chains after a prune and the chains an import rebuilds follow db/sqlite/rechain.ts
 * and db/sqlite/import.ts (their header comments say the rules); each transaction locks the job
 * row and the VM (db.ts `lockVm`) so a backup recording for the same VM waits.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, count, desc, eq, inArray, isNull, ne, type SQL } from 'drizzle-orm';
import type { MaintenanceStatus, RestorePoint } from '../schema.ts';
import { StoreError, type ImportApplied, type MaintenanceFilter, type MaintenanceStore, type PruneApplied, type ScannedVm } from '../store.ts';
import { chains, maintenanceJobs, repositories, restorePointDisks, restorePoints } from './schema.ts';
import { guard, lockVm, page, type PgDb, type PgTx } from './db.ts';
import { insertPoint } from './points.ts';

const UNFINISHED: MaintenanceStatus[] = ['queued', 'running'];

function where(f: MaintenanceFilter): SQL | undefined {
  const conds: SQL[] = [];
  if (f.vmId) conds.push(eq(maintenanceJobs.platformVmId, f.vmId));
  if (f.kind) conds.push(eq(maintenanceJobs.kind, f.kind));
  if (f.repositoryId) conds.push(eq(maintenanceJobs.repositoryId, f.repositoryId));
  if (f.status?.length) conds.push(inArray(maintenanceJobs.status, f.status));
  return conds.length ? and(...conds) : undefined;
}

async function applyPrune(tx: PgTx, vmId: string, repositoryId: string, outcome: PruneApplied, at: Date): Promise<{ chains: string[]; unknown: string[] }> {
  const live = await tx.select().from(restorePoints)
    .where(and(eq(restorePoints.platformVmId, vmId), eq(restorePoints.repositoryId, repositoryId), isNull(restorePoints.deletedAt)));
  const byPoint = new Map(live.map((p) => [p.pointId, p]));
  const touched = new Set<string>();
  const unknown: string[] = [];
  const removedIds: string[] = [];
  for (const pid of outcome.removed) {
    const p = byPoint.get(pid);
    if (!p) { unknown.push(pid); continue; }
    removedIds.push(p.id);
    touched.add(p.chainId);
  }
  if (removedIds.length) await tx.update(restorePoints).set({ deletedAt: at }).where(inArray(restorePoints.id, removedIds));
  for (const m of outcome.merged) {
    const p = byPoint.get(m.pointId);
    if (!p) throw new StoreError('conflict', `the prune merged point ${m.pointId} of VM ${vmId}, which the database does not know`);
    const disks = await tx.select().from(restorePointDisks).where(eq(restorePointDisks.restorePointId, p.id));
    const manifest = { ...p.manifest, type: 'full' as const, parent: null, disks: p.manifest.disks.map((d) => ({ ...d, type: 'full' as const, backing: null })) };
    const size = m.bytesWritten > 0 ? m.bytesWritten : p.sizeBytes;
    await tx.update(restorePoints).set({
      type: 'full', parentId: null, manifest, sizeBytes: size,
      reason: `${p.reason}; merged forward into a full (folds in ${m.from.join(', ')})`,
    }).where(eq(restorePoints.id, p.id));
    await tx.update(restorePointDisks).set({ type: 'full', backing: null, ...(disks.length === 1 ? { fileSizeBytes: size } : {}) })
      .where(eq(restorePointDisks.restorePointId, p.id));
    touched.add(p.chainId);
  }
  for (const chainId of touched) await rechain(tx, chainId, at);
  return { chains: [...touched], unknown };
}

async function rechain(tx: PgTx, chainId: string, at: Date): Promise<void> {
  const chain = (await tx.select().from(chains).where(eq(chains.id, chainId)))[0];
  if (!chain) return;
  const live = await tx.select().from(restorePoints).where(and(eq(restorePoints.chainId, chainId), isNull(restorePoints.deletedAt)))
    .orderBy(asc(restorePoints.createdAt), asc(restorePoints.pointId));
  if (live.length === 0) {
    await tx.update(chains).set({ length: 0, state: 'closed', stateReason: `every point was removed by retention (${at.toISOString()})` }).where(eq(chains.id, chainId));
    return;
  }
  const segments: RestorePoint[][] = [];
  const segmentOf = new Map<string, RestorePoint[]>();
  let orphan: RestorePoint | undefined;
  for (const p of live) {
    const seg = p.parentId ? segmentOf.get(p.parentId) : undefined;
    if (seg) seg.push(p);
    else {
      if (p.parentId) orphan ??= p;
      segments.push([p]);
    }
    segmentOf.set(p.id, seg ?? segments.at(-1)!);
  }
  const head = segmentOf.get(live.at(-1)!.id)!;
  for (const seg of segments) {
    const span = { length: seg.length, startedAt: seg[0].createdAt, lastPointAt: seg.at(-1)!.createdAt };
    if (seg === head) {
      const broken = orphan ? { state: 'broken' as const, stateReason: `point ${orphan.pointId}'s parent was removed but not merged` } : {};
      await tx.update(chains).set({ ...span, ...broken }).where(eq(chains.id, chainId));
      continue;
    }
    const id = randomUUID();
    await tx.insert(chains).values({
      id, platformVmId: chain.platformVmId, sourcePlatform: chain.sourcePlatform, repositoryId: chain.repositoryId, ...span,
      state: 'closed', stateReason: `split from chain ${chainId} by retention: the point after ${seg.at(-1)!.pointId} was removed`,
    });
    await tx.update(restorePoints).set({ chainId: id }).where(inArray(restorePoints.id, seg.map((p) => p.id)));
  }
}

async function applyImport(tx: PgTx, repositoryId: string, vms: ScannedVm[]): Promise<ImportApplied> {
  const out: ImportApplied = { imported: [], skipped: [] };
  for (const vm of vms) {
    await lockVm(tx, vm.vmId, repositoryId);
    const known = (await tx.select({ n: count() }).from(restorePoints)
      .where(and(eq(restorePoints.platformVmId, vm.vmId), eq(restorePoints.repositoryId, repositoryId), isNull(restorePoints.deletedAt))))[0]?.n ?? 0;
    // recorded live points: a VM whose new points come from imports (extend) continues after the newest
    const placed = new Map<string, { id: string; chainId: string }>();
    let after = '';
    if (known > 0) {
      const rows = await tx.select({ id: restorePoints.id, p: restorePoints.pointId, chainId: restorePoints.chainId, deletedAt: restorePoints.deletedAt }).from(restorePoints)
        .where(and(eq(restorePoints.platformVmId, vm.vmId), eq(restorePoints.repositoryId, repositoryId)));
      const recorded = new Set(rows.map((r) => r.p));
      const extra = vm.points.filter((p) => !recorded.has(p.id)).length;
      if (!vm.extend) {
        if (extra) out.skipped.push({ vmId: vm.vmId, reason: `${known} of its points are recorded already; ${extra} unknown point(s) left alone` });
        continue;
      }
      const newest = rows.filter((r) => !r.deletedAt).sort((x, y) => x.p.localeCompare(y.p)).at(-1);
      after = newest?.p ?? '';
      if (newest) placed.set(newest.p, { id: newest.id, chainId: newest.chainId });
    }
    const fresh = vm.points.filter((p) => p.id > after && !placed.has(p.id));
    if (fresh.length === 0) { if (!known) out.skipped.push({ vmId: vm.vmId, reason: 'no point in the repository' }); continue; }
    const sorted = [...fresh].sort((a, b) => a.id.localeCompare(b.id));
    const chainIds: string[] = [];
    const missing: string[] = [];
    let tip = after;
    for (const m of sorted) {
      const at = new Date(m.created_at);
      let chainId: string;
      let parentId: string | null = null;
      if (m.type === 'full' || !m.parent) {
        chainId = randomUUID();
        await tx.insert(chains).values({
          id: chainId, platformVmId: vm.vmId, sourcePlatform: vm.sourcePlatform, repositoryId, length: 1, state: 'closed',
          stateReason: 'imported from the repository', startedAt: at, lastPointAt: at,
        });
        chainIds.push(chainId);
      } else {
        const parent = placed.get(m.parent);
        // appended to recorded points: only on the newest one (never a fork of the chain)
        if (!parent || (known > 0 && m.parent !== tip)) { missing.push(`${m.id} (parent ${m.parent} is ${known ? 'not the newest recorded point' : 'not in the repository'})`); continue; }
        chainId = parent.chainId;
        parentId = parent.id;
        const c = (await tx.select().from(chains).where(eq(chains.id, chainId)))[0]!;
        await tx.update(chains).set({ length: c.length + 1, lastPointAt: at }).where(eq(chains.id, chainId));
      }
      const id = await insertPoint(tx, m, { platformVmId: vm.vmId, sourcePlatform: vm.sourcePlatform, repositoryId, chainId, parentId, jobId: null, platformMetadata: vm.platformMetadata });
      placed.set(m.id, { id, chainId });
      tip = m.id;
    }
    const added = sorted.filter((m) => placed.has(m.id));
    const newest = added.map((m) => placed.get(m.id)!).at(-1);
    if (newest) {
      // one open chain per VM and repository: the newest point's
      await tx.update(chains).set({ state: 'closed', stateReason: 'a newer chain was imported' })
        .where(and(eq(chains.platformVmId, vm.vmId), eq(chains.repositoryId, repositoryId), eq(chains.state, 'open'), ne(chains.id, newest.chainId)));
      await tx.update(chains).set({ state: 'open', stateReason: 'imported from the repository' }).where(eq(chains.id, newest.chainId));
    }
    if (added.length) out.imported.push({ vmId: vm.vmId, sourcePlatform: vm.sourcePlatform, points: added.length, chains: chainIds.length });
    if (missing.length) out.skipped.push({ vmId: vm.vmId, reason: `points not imported: ${missing.join('; ')}` });
  }
  return out;
}

export function createMaintenanceStore(db: PgDb): MaintenanceStore {
  const get = async (id: string) => (await db.select().from(maintenanceJobs).where(eq(maintenanceJobs.id, id)))[0];
  /** the running job (its row locked), or a conflict: only a running job's outcome is written */
  const running = async (tx: PgTx, id: string) => {
    const job = (await tx.select().from(maintenanceJobs).where(eq(maintenanceJobs.id, id)).for('update'))[0];
    if (!job) throw new StoreError('notfound', `maintenance job ${id} does not exist`);
    if (job.status !== 'running') throw new StoreError('conflict', `maintenance job ${id} is ${job.status}: its outcome is not recorded`);
    return job;
  };
  const finish = async (tx: PgTx, id: string, patch: Partial<typeof maintenanceJobs.$inferInsert>) =>
    (await tx.update(maintenanceJobs).set(patch).where(eq(maintenanceJobs.id, id)).returning())[0]!;

  return {
    async create(job) {
      await guard(`maintenance job ${job.id}`, () => db.insert(maintenanceJobs).values(job));
      return (await get(job.id))!;
    },
    get,
    async list(f = {}) {
      const p = page(f);
      return db.select().from(maintenanceJobs).where(where(f)).orderBy(desc(maintenanceJobs.queuedAt), desc(maintenanceJobs.id)).limit(p.limit).offset(p.offset);
    },
    async count(f = {}) {
      return (await db.select({ n: count() }).from(maintenanceJobs).where(where(f)))[0]?.n ?? 0;
    },
    async unfinished() {
      return db.select().from(maintenanceJobs).where(inArray(maintenanceJobs.status, UNFINISHED)).orderBy(asc(maintenanceJobs.queuedAt), asc(maintenanceJobs.id));
    },
    async update(id, patch, expect) {
      const cond = expect ? and(eq(maintenanceJobs.id, id), inArray(maintenanceJobs.status, expect)) : eq(maintenanceJobs.id, id);
      return (await db.update(maintenanceJobs).set(patch).where(cond).returning())[0];
    },
    async finishPrune(id, outcome, at) {
      return db.transaction(async (tx) => {
        const job = await running(tx, id);
        if (!job.platformVmId) throw new StoreError('invalid', `maintenance job ${id} names no VM: nothing to prune`);
        await lockVm(tx, job.platformVmId, job.repositoryId);
        const applied = await applyPrune(tx, job.platformVmId, job.repositoryId, outcome, at);
        return finish(tx, id, {
          status: 'succeeded', finishedAt: at,
          result: { ...outcome, chains: applied.chains, ...(applied.unknown.length ? { notRecorded: applied.unknown } : {}) },
        });
      });
    },
    async finishVerify(id, outcome, at) {
      return db.transaction(async (tx) => {
        const job = await running(tx, id);
        const vmId = job.platformVmId;
        if (!vmId) throw new StoreError('invalid', `maintenance job ${id} names no VM: nothing verified`);
        for (const p of outcome.points) {
          await tx.update(restorePoints).set({
            verificationStatus: p.ok ? 'verified' : 'failed', verifiedAt: at, verificationProblems: p.problems, verificationJobId: id,
          }).where(and(eq(restorePoints.platformVmId, vmId), eq(restorePoints.repositoryId, job.repositoryId), eq(restorePoints.pointId, p.pointId)));
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
      return db.transaction(async (tx) => {
        const job = await running(tx, id);
        const applied = await applyImport(tx, job.repositoryId, scan.vms);
        if (scan.usedBytes !== undefined) await tx.update(repositories).set({ usedBytes: scan.usedBytes, updatedAt: at }).where(eq(repositories.id, job.repositoryId));
        const done = await finish(tx, id, { status: 'succeeded', finishedAt: at, result: { ...applied, usedBytes: scan.usedBytes ?? null } });
        return { job: done, applied };
      });
    },
  };
}
