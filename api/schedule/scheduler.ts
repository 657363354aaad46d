/**
 * @layer usecase
 * The backup scheduler: at every tick, each enabled policy whose croner schedule has come due
 * (api/policy/schedule.ts) queues a backup of every VM it is the effective policy of
 * (api/policy/assign.ts: the most specific assignment wins), skipping VMs that already have an
 * unfinished job. The policy's last run is claimed (compare-and-set) before its jobs are queued,
 * so neither a crash nor a second control-plane instance ticking at the same time runs a
 * schedule time twice. The runner does the rest (per-host limit, queue).
 */
import type { Store } from '../../db/store.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { effectiveAssignment } from '../policy/assign.ts';
import { isDue } from '../policy/schedule.ts';

export interface SchedulerDeps {
  store: Store;
  runner: Pick<JobRunner, 'enqueue'>;
  clock?: () => Date;
  log?: (msg: string) => void;
}

export interface TickReport {
  at: string;
  policies: { id: string; name: string; queued: string[]; skipped: { vmId: string; reason: string }[] }[];
}

export async function schedulerTick(deps: SchedulerDeps, now = (deps.clock ?? (() => new Date()))()): Promise<TickReport> {
  const { store } = deps;
  const report: TickReport = { at: now.toISOString(), policies: [] };
  const due = (await store.policies.list()).filter((p) => {
    try { return isDue(p, now); } catch (e) { deps.log?.(`[scheduler] policy ${p.name}: ${(e as Error).message}`); return false; }
  });
  if (due.length === 0) return report;
  const assignments = await store.policies.assignments();
  const vms = (await store.vms.all()).filter((v) => !v.removedAt);
  const busy = new Set((await store.jobs.unfinished()).map((j) => j.platformVmId));
  for (const policy of due) {
    // several instances may tick at once: the one whose claim on this schedule time wins queues it
    if (!(await store.policies.claimRun(policy.id, 'lastRunAt', policy.lastRunAt, now))) continue;
    const entry: TickReport['policies'][number] = { id: policy.id, name: policy.name, queued: [], skipped: [] };
    for (const vm of vms) {
      const a = effectiveAssignment({ id: vm.id, zoneId: vm.zoneId, domainId: vm.domainId, account: vm.account, tags: vm.tags }, assignments);
      if (a?.policyId !== policy.id) continue;
      if (busy.has(vm.id)) { entry.skipped.push({ vmId: vm.id, reason: 'a backup of this VM is still queued or running' }); continue; }
      try {
        const job = await deps.runner.enqueue({ vmId: vm.id, trigger: 'schedule', policyId: policy.id, requestedBy: `policy:${policy.name}` });
        busy.add(vm.id);
        entry.queued.push(job.id);
      } catch (e) {
        entry.skipped.push({ vmId: vm.id, reason: (e as Error).message });
      }
    }
    await store.audit.append({
      at: now, actor: 'system:scheduler', via: 'system', action: 'policy.run', targetType: 'policy', targetId: policy.id,
      outcome: 'ok', details: { queued: entry.queued.length, skipped: entry.skipped },
    });
    report.policies.push(entry);
  }
  return report;
}
