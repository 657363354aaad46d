/**
 * @layer usecase
 * Scheduled verification: at a scheduler tick, each enabled policy whose `verifySchedule` (a
 * croner pattern) has come due verifies the newest restore point of every VM it is the effective
 * policy of (restore-tested when the policy says `verifyRestoreTest`). The policy's last verify
 * run is recorded before the jobs start, so a crash never runs a schedule time twice.
 */
import type { Store } from '../../db/store.ts';
import { effectiveAssignment } from '../policy/assign.ts';
import { isDue } from '../policy/schedule.ts';
import type { MaintenanceRunner } from '../retention/runner.ts';

export interface VerifyTickDeps {
  store: Store;
  maintenance: Pick<MaintenanceRunner, 'verify'>;
  log?: (msg: string) => void;
}

export async function verifyTick(deps: VerifyTickDeps, now: Date): Promise<{ policies: { id: string; jobs: string[] }[] }> {
  const { store } = deps;
  const due = (await store.policies.list()).filter((p) => {
    if (!p.verifySchedule) return false;
    try {
      return isDue({ schedule: p.verifySchedule, timezone: p.timezone, enabled: p.enabled, lastRunAt: p.verifyLastRunAt, createdAt: p.createdAt }, now);
    } catch (e) {
      deps.log?.(`[verification] policy ${p.name}: ${(e as Error).message}`);
      return false;
    }
  });
  const out: { id: string; jobs: string[] }[] = [];
  if (due.length === 0) return { policies: out };
  const assignments = await store.policies.assignments();
  const vms = (await store.vms.all()).filter((v) => !v.removedAt);
  for (const policy of due) {
    // claimed once across instances (compare-and-set on the last verify run)
    if (!(await store.policies.claimRun(policy.id, 'verifyLastRunAt', policy.verifyLastRunAt, now))) continue;
    const entry = { id: policy.id, jobs: [] as string[] };
    for (const vm of vms) {
      const a = effectiveAssignment({ id: vm.id, zoneId: vm.zoneId, domainId: vm.domainId, account: vm.account, tags: vm.tags }, assignments);
      if (a?.policyId !== policy.id) continue;
      const [newest] = await store.points.listForVm(vm.id, { limit: 1 });
      if (!newest) continue;
      try {
        entry.jobs.push((await deps.maintenance.verify(newest.id, { trigger: 'schedule', requestedBy: `policy:${policy.name}`, restoreTest: policy.verifyRestoreTest })).id);
      } catch (e) {
        deps.log?.(`[verification] VM ${vm.id}: ${(e as Error).message}`);
      }
    }
    await store.audit.append({
      at: now, actor: 'system:scheduler', via: 'system', action: 'policy.verify', targetType: 'policy', targetId: policy.id, outcome: 'ok', details: { jobs: entry.jobs },
    });
    out.push(entry);
  }
  return { policies: out };
}
