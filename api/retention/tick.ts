/**
 * @layer usecase
 * Retention after backups: at a scheduler tick, every VM with a policy whose newest successful
 * scheduled backup ended after its last prune (or that was never pruned) gets its retention
 * applied (MaintenanceRunner.prune: nothing happens when nothing expires). A VM with a backup or
 * a prune still running waits for the next tick. One run per backup, never a storm of retries: a
 * failed prune is tried again after the next backup (or by hand: POST …/retention/apply).
 */
import type { Store } from '../../db/store.ts';
import { effectiveAssignment } from '../policy/assign.ts';
import type { MaintenanceRunner } from './runner.ts';

export interface RetentionTickDeps {
  store: Store;
  maintenance: Pick<MaintenanceRunner, 'prune'>;
  log?: (msg: string) => void;
}

export async function retentionTick(deps: RetentionTickDeps): Promise<{ pruned: string[]; jobs: string[] }> {
  const { store } = deps;
  const assignments = await store.policies.assignments();
  const out = { pruned: [] as string[], jobs: [] as string[] };
  if (assignments.length === 0) return out;
  for (const vm of (await store.vms.all()).filter((v) => !v.removedAt)) {
    if (!effectiveAssignment({ id: vm.id, zoneId: vm.zoneId, domainId: vm.domainId, account: vm.account, tags: vm.tags }, assignments)) continue;
    const [backup] = await store.jobs.list({ vmId: vm.id, status: ['succeeded'], limit: 10 }).then((js) => js.filter((j) => j.trigger === 'schedule'));
    if (!backup?.finishedAt) continue;
    const [prune] = await store.maintenance.list({ vmId: vm.id, kind: 'prune', limit: 1 });
    if (prune && prune.queuedAt.getTime() >= backup.finishedAt.getTime()) continue;
    try {
      const jobs = await deps.maintenance.prune(vm.id, { trigger: 'backup', requestedBy: 'system:retention' });
      if (jobs.length) { out.pruned.push(vm.id); out.jobs.push(...jobs.map((j) => j.id)); }
    } catch (e) {
      deps.log?.(`[retention] VM ${vm.id}: ${(e as Error).message}`);
    }
  }
  return out;
}
