/**
 * @layer adapter
 * The database side of a prune (inside the transaction that finishes the prune job): removed
 * points marked deleted, merged points turned into fulls, and the touched chains re-rooted.
 *
 * Re-rooting: the live points of a chain, oldest first, fall into segments — a point whose parent
 * is in an earlier segment's tail joins it, a full (or a point whose parent is gone) starts a new
 * one. The segment holding the chain's newest point keeps the chain's id and state (an open chain
 * stays open: the next backup's full/incremental decision reads its length); every other segment
 * becomes a closed chain of its own. A survivor whose parent was removed but not merged (the
 * database and the repository disagree) puts its chain in state `broken`, so the next backup is a
 * full and someone looks.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull } from 'drizzle-orm';
import { chains, restorePointDisks, restorePoints, type RestorePoint } from '../schema.ts';
import { StoreError, type PruneApplied } from '../store.ts';
import type { Db } from './db.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export function applyPrune(tx: Tx, vmId: string, repositoryId: string, outcome: PruneApplied, at: Date): { chains: string[]; unknown: string[] } {
  const live = tx.select().from(restorePoints)
    .where(and(eq(restorePoints.platformVmId, vmId), eq(restorePoints.repositoryId, repositoryId), isNull(restorePoints.deletedAt))).all();
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
  if (removedIds.length) tx.update(restorePoints).set({ deletedAt: at }).where(inArray(restorePoints.id, removedIds)).run();
  for (const m of outcome.merged) {
    const p = byPoint.get(m.pointId);
    if (!p) throw new StoreError('conflict', `the prune merged point ${m.pointId} of VM ${vmId}, which the database does not know`);
    const disks = tx.select().from(restorePointDisks).where(eq(restorePointDisks.restorePointId, p.id)).all();
    const manifest = { ...p.manifest, type: 'full' as const, parent: null, disks: p.manifest.disks.map((d) => ({ ...d, type: 'full' as const, backing: null })) };
    const size = m.bytesWritten > 0 ? m.bytesWritten : p.sizeBytes;
    tx.update(restorePoints).set({
      type: 'full', parentId: null, manifest, sizeBytes: size,
      reason: `${p.reason}; merged forward into a full (folds in ${m.from.join(', ')})`,
    }).where(eq(restorePoints.id, p.id)).run();
    tx.update(restorePointDisks).set({ type: 'full', backing: null, ...(disks.length === 1 ? { fileSizeBytes: size } : {}) })
      .where(eq(restorePointDisks.restorePointId, p.id)).run();
    touched.add(p.chainId);
  }
  for (const chainId of touched) rechain(tx, chainId, at);
  return { chains: [...touched], unknown };
}

function rechain(tx: Tx, chainId: string, at: Date): void {
  const chain = tx.select().from(chains).where(eq(chains.id, chainId)).get();
  if (!chain) return;
  const live = tx.select().from(restorePoints).where(and(eq(restorePoints.chainId, chainId), isNull(restorePoints.deletedAt)))
    .orderBy(asc(restorePoints.createdAt), asc(restorePoints.pointId)).all();
  if (live.length === 0) {
    tx.update(chains).set({ length: 0, state: 'closed', stateReason: `every point was removed by retention (${at.toISOString()})` }).where(eq(chains.id, chainId)).run();
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
      tx.update(chains).set({ ...span, ...broken }).where(eq(chains.id, chainId)).run();
      continue;
    }
    const id = randomUUID();
    tx.insert(chains).values({
      id, platformVmId: chain.platformVmId, sourcePlatform: chain.sourcePlatform, repositoryId: chain.repositoryId, ...span,
      state: 'closed', stateReason: `split from chain ${chainId} by retention: the point after ${seg.at(-1)!.pointId} was removed`,
    }).run();
    tx.update(restorePoints).set({ chainId: id }).where(inArray(restorePoints.id, seg.map((p) => p.id))).run();
  }
}
