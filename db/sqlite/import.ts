/**
 * @layer adapter
 * The database side of a repository import (inside the transaction that finishes the import
 * job): the chains of VMs the database has no point of in that repository, rebuilt from their
 * manifests. A full starts a chain (the point before it, which its manifest may name, aside); an
 * incremental joins its parent's chain; an
 * incremental whose parent is not in the scan is skipped and said why (it cannot be restored).
 * The VM's newest chain is open, the others closed. A VM with points already recorded in the
 * repository is left alone (its new points come from its own backups, never from a scan).
 */
import { randomUUID } from 'node:crypto';
import { and, count, eq, isNull } from 'drizzle-orm';
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
    if (known > 0) {
      const recorded = new Set(tx.select({ p: restorePoints.pointId }).from(restorePoints)
        .where(and(eq(restorePoints.platformVmId, vm.vmId), eq(restorePoints.repositoryId, repositoryId))).all().map((r) => r.p));
      const extra = vm.points.filter((p) => !recorded.has(p.id)).length;
      if (extra) out.skipped.push({ vmId: vm.vmId, reason: `${known} of its points are recorded already; ${extra} unknown point(s) left alone` });
      continue;
    }
    if (vm.points.length === 0) { out.skipped.push({ vmId: vm.vmId, reason: 'no point in the repository' }); continue; }
    const sorted = [...vm.points].sort((a, b) => a.id.localeCompare(b.id));
    const placed = new Map<string, { id: string; chainId: string }>();
    const chainIds: string[] = [];
    const missing: string[] = [];
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
        if (!parent) { missing.push(`${m.id} (parent ${m.parent} is not in the repository)`); continue; }
        chainId = parent.chainId;
        parentId = parent.id;
        const c = tx.select().from(chains).where(eq(chains.id, chainId)).get()!;
        tx.update(chains).set({ length: c.length + 1, lastPointAt: at }).where(eq(chains.id, chainId)).run();
      }
      placed.set(m.id, { id: insertPoint(tx, m, { platformVmId: vm.vmId, sourcePlatform: vm.sourcePlatform, repositoryId, chainId, parentId, jobId: null }), chainId });
    }
    const newest = sorted.map((m) => placed.get(m.id)).filter((x) => x !== undefined).at(-1);
    if (newest) tx.update(chains).set({ state: 'open', stateReason: 'imported from the repository' }).where(eq(chains.id, newest.chainId)).run();
    if (placed.size) out.imported.push({ vmId: vm.vmId, sourcePlatform: vm.sourcePlatform, points: placed.size, chains: chainIds.length });
    if (missing.length) out.skipped.push({ vmId: vm.vmId, reason: `points not imported: ${missing.join('; ')}` });
  }
  return out;
}
