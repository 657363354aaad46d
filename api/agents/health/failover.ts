/**
 * @layer usecase
 * Failing over the work a lost agent had: when an agent has been lost for `afterMs` (no answer
 * since its last heartbeat), the backups it had been handed (dispatching or running) of VMs that
 * are stopped — whose disks any agent of the cluster may read (api/jobs/placement.ts) — are
 * failed `agent_lost`, saying so, and queued again: placement sends them to another healthy
 * agent. A running VM's job stays with its host (only that host can read it): the runner's
 * unreachable rule ends it, and the catch-up after the agent is back runs it again.
 *
 * Why a grace period: an agent that only lost its link for a moment keeps working; its job would
 * be wasted (its point not recorded: the store refuses a point for a job that has ended) and the
 * new one would meet the old one's repository lease. The next backup after an `agent_lost` job is
 * a full (api/jobs/plan.ts FORCE_FULL_AFTER): the lost agent may have written a point the
 * database never recorded.
 */
import type { CloudStackAgent } from '../../../db/schema.ts';
import type { Store } from '../../../db/store.ts';
import type { EnqueueRequest } from '../../jobs/runner.ts';

export interface FailoverDeps {
  store: Store;
  runner: { enqueue(req: EnqueueRequest): Promise<unknown> };
  clock: () => Date;
  log?: (msg: string) => void;
}

/** Fails over the in-flight stopped-VM backups of `agent` when it has been lost long enough; the VM ids re-queued. */
export async function failOverLostAgent(deps: FailoverDeps, agent: CloudStackAgent, afterMs: number): Promise<string[]> {
  const now = deps.clock();
  if (agent.status !== 'inactive') return [];
  const since = agent.lastHeartbeatAt;
  if (since && now.getTime() - since.getTime() < afterMs) return [];
  const jobs = (await deps.store.jobs.unfinished()).filter((j) => j.kvmHostId === agent.hostId && (j.status === 'dispatching' || j.status === 'running'));
  const out: string[] = [];
  for (const j of jobs) {
    const vm = await deps.store.vms.get(j.platformVmId);
    if (!vm || vm.hostId) continue; // running (or unknown): only its own host can read it
    const message = `the agent on ${agent.hostname} was lost while it had this backup (${since ? `last heartbeat ${since.toISOString()}` : 'it never answered'}; ${agent.statusMessage ?? 'no answer'}): queued again for another agent; no restore point was recorded`;
    const failed = await deps.store.jobs.update(j.id, { status: 'failed', errorCode: 'agent_lost', error: message, finishedAt: now, updatedAt: now }, ['dispatching', 'running']);
    if (!failed) continue; // it ended meanwhile
    await deps.store.audit.append({
      at: now, actor: 'system:health', via: 'system', action: 'job.failed', targetType: 'job', targetId: j.id, outcome: 'error',
      details: { vmId: j.platformVmId, errorCode: 'agent_lost', error: message, failover: true },
    });
    deps.log?.(`[agents] failing over: backup ${j.id} of ${j.vmName} was on the lost agent of ${agent.hostname}; queued again`);
    try {
      await deps.runner.enqueue({ vmId: j.platformVmId, requested: j.requestedMode, trigger: j.trigger, policyId: j.policyId, requestedBy: j.requestedBy, quiesce: j.quiesce });
      out.push(j.platformVmId);
    } catch (e) {
      deps.log?.(`[agents] failing over ${j.vmName}: ${(e as Error).message}`);
    }
  }
  return out;
}
