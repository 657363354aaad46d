/**
 * @layer usecase
 * Plans one backup of a VM from what the store knows: the VM's effective policy (its limits and
 * repository), the head of its chain in that repository, its disks now, and whether the last
 * attempt after the head found the checkpoint unusable — then decides full or incremental
 * (api/policy/decide.ts). The runner plans when a job is queued (to answer the request) and
 * again when it is dispatched (a job that finished in between changes the answer).
 */
import type { BackupJob, CloudStackVm, Policy, Repository } from '../../db/schema.ts';
import type { Store } from '../../db/store.ts';
import { effectiveAssignment } from '../policy/assign.ts';
import { decideBackup, DEFAULT_LIMITS, type Decision, type HeadFacts, type RequestedMode } from '../policy/decide.ts';
import { JobError } from './errors.ts';

/**
 * Job error codes after which the next backup must be a full: the agent found the checkpoint
 * unusable, or the repository may now hold a point the database does not (a point rejected,
 * a job the agent may have finished unseen) — an incremental would build on it.
 */
export const FORCE_FULL_AFTER = ['incremental_impossible', 'checkpoint_invalid', 'point_rejected', 'interrupted', 'agent_lost_job', 'agent_unreachable', 'agent_lost'];

export interface BackupPlan {
  vm: CloudStackVm;
  policy: Policy | undefined;
  repository: Repository;
  head: HeadFacts | undefined;
  /** the head point's chain and database id (for recording the result) */
  headIds?: { chainId: string; id: string; pointId: string; recordedAt: Date };
  decision: Decision;
}

export async function planBackup(store: Store, vmId: string, requested: RequestedMode, policyId?: string | null): Promise<BackupPlan> {
  const vm = await store.vms.get(vmId);
  if (!vm || vm.removedAt) throw new JobError('notfound', `no VM ${vmId} is known (run discovery, or it was removed from CloudStack)`);
  let policy: Policy | undefined;
  if (policyId) policy = await store.policies.get(policyId);
  else {
    const a = effectiveAssignment({ id: vm.id, zoneId: vm.zoneId, domainId: vm.domainId, account: vm.account, tags: vm.tags }, await store.policies.assignments());
    if (a) policy = await store.policies.get(a.policyId);
  }
  const repository = policy?.repositoryId ? await store.repositories.get(policy.repositoryId) : await store.repositories.getDefault();
  if (!repository) throw new JobError('invalid', 'no backup repository is configured');

  const h = await store.points.chainHead(vm.id, repository.id);
  const head: HeadFacts | undefined = h && {
    pointId: h.point.pointId, chainLength: h.chain.length, verification: h.point.verificationStatus,
    disks: h.disks.map((d) => ({ index: d.diskIndex, volumeId: d.volumeId, virtualSize: d.virtualSizeBytes, checkpoint: d.checkpoint })),
  };
  let checkpointInvalid: string | undefined;
  if (h) {
    const recent = await store.jobs.list({ vmId: vm.id, status: ['failed'], limit: 20 });
    const hit = recent.find((j: BackupJob) => j.finishedAt && j.finishedAt > h.point.recordedAt && FORCE_FULL_AFTER.includes(j.errorCode ?? ''));
    checkpointInvalid = hit ? `job ${hit.id} ended with ${hit.errorCode}` : undefined;
  }
  const disks = (await store.vms.disks(vm.id)).map((d) => ({ volumeId: d.id, size: d.sizeBytes }));
  const decision = decideBackup({
    requested, limits: policy ? { fullEvery: policy.fullEvery, maxChainLength: policy.maxChainLength } : DEFAULT_LIMITS,
    head, disks: disks.length ? disks : undefined, checkpointInvalid,
  });
  return {
    vm, policy, repository, head, decision,
    headIds: h && { chainId: h.chain.id, id: h.point.id, pointId: h.point.pointId, recordedAt: h.point.recordedAt },
  };
}
