/**
 * @layer adapter
 * The database side of a repository import (inside the transaction that finishes the import
 * job): the chains of VMs the database has no point of in that repository, rebuilt from their
 * manifests. A full starts a chain (the point before it, which its manifest may name, aside); an
 * incremental joins its parent's chain; an
 * incremental whose parent is not in the scan is skipped and said why (it cannot be restored).
 * The VM's newest chain is open, the others closed. A VM with points already recorded in the
 * repository is left alone (its new points come from its own backups, never from a scan) — unless
 * the scan says `extend` (a VMware VM, whose new points come from imports): then its points newer
 * than the newest recorded one are appended, an incremental only on that newest point. Each point
 * gets the scan's platform_metadata.
 */
import { randomUUID } from 'node:crypto';
import { and, count, eq, isNull, ne } from 'drizzle-orm';
import { chains, restorePoints } from '../schema.ts';
import type { ImportApplied, ScannedVm } from '../store.ts';
import type { Db } from './db.ts';
import { insertPoint } from './point-rows.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export function applyImport(tx: Tx, repositoryId: string, vms: ScannedVm[]): ImportApplied {
  const out: ImportApplied = { imported: [], skipped: [] };
  for (const vm of vms) {
    const known = tx.select({ n: count() }).from(restorePoints)
      .where(and(eq(restorePoints.platformVmId, vm.vmId), eq(restorePoints.repositoryId, repositoryId), isNull(restorePoints.deletedAt))).get()?.n ?? 0;
    // recorded live points: a VM whose new points come from imports (extend) continues after the newest
    const placed = new Map<string, { id: string; chainId: string }>();
    let after = '';
    if (known > 0) {
      const rows = tx.select({ id: restorePoints.id, p: restorePoints.pointId, chainId: restorePoints.chainId, deletedAt: restorePoints.deletedAt }).from(restorePoints)
        .where(and(eq(restorePoints.platformVmId, vm.vmId), eq(restorePoints.repositoryId, repositoryId))).all();
      const recorded = new Set(rows.map((r) => r.p));
      const extra = vm.points.filter((p) => !recorded.has(p.id)).length;
      if (!vm.extend) {
        if (extra) out.skipped.push({ vmId: vm.vmId, reason: `${known} of its points are recorded already; ${extra} unknown point(s) left alone` });
        continue;
      }
      const live = rows.filter((r) => !r.deletedAt).sort((x, y) => x.p.localeCompare(y.p));
      after = live.at(-1)?.p ?? '';
      const newest = live.at(-1);
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
        tx.insert(chains).values({
          id: chainId, platformVmId: vm.vmId, sourcePlatform: vm.sourcePlatform, repositoryId, length: 1, state: 'closed',
          stateReason: 'imported from the repository', startedAt: at, lastPointAt: at,
        }).run();
        chainIds.push(chainId);
      } else {
        const parent = placed.get(m.parent);
        // appended to recorded points: only on the newest one (never a fork of the chain)
        if (!parent || (known > 0 && m.parent !== tip)) { missing.push(`${m.id} (parent ${m.parent} is ${known ? 'not the newest recorded point' : 'not in the repository'})`); continue; }
        chainId = parent.chainId;
        parentId = parent.id;
        const c = tx.select().from(chains).where(eq(chains.id, chainId)).get()!;
        tx.update(chains).set({ length: c.length + 1, lastPointAt: at }).where(eq(chains.id, chainId)).run();
      }
      tip = m.id;
      placed.set(m.id, {
        id: insertPoint(tx, m, { platformVmId: vm.vmId, sourcePlatform: vm.sourcePlatform, repositoryId, chainId, parentId, jobId: null, platformMetadata: vm.platformMetadata }), chainId,
      });
    }
    const added = sorted.filter((m) => placed.has(m.id));
    const newest = added.map((m) => placed.get(m.id)!).at(-1);
    if (newest) {
      // one open chain per VM and repository: the newest point's
      tx.update(chains).set({ state: 'closed', stateReason: 'a newer chain was imported' })
        .where(and(eq(chains.platformVmId, vm.vmId), eq(chains.repositoryId, repositoryId), eq(chains.state, 'open'), ne(chains.id, newest.chainId))).run();
      tx.update(chains).set({ state: 'open', stateReason: 'imported from the repository' }).where(eq(chains.id, newest.chainId)).run();
    }
    if (added.length) out.imported.push({ vmId: vm.vmId, sourcePlatform: vm.sourcePlatform, points: added.length, chains: chainIds.length });
    if (missing.length) out.skipped.push({ vmId: vm.vmId, reason: `points not imported: ${missing.join('; ')}` });
  }
  return out;
}
