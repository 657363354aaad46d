/**
 * @layer usecase
 * The retention preview of a VM: per repository it holds points in, what its effective policy's
 * retention (api/policy/retention.ts) would do now — each point kept (and why), deleted (and
 * why), or merged forward into a full (and from what) — and the bytes freed (an estimate). A VM
 * without a policy keeps everything. The same plan is what `apply` sends to the agent.
 */
import type { Policy, RestorePoint } from '../../db/schema.ts';
import type { Store } from '../../db/store.ts';
import { effectiveAssignment } from '../policy/assign.ts';
import { retentionPlan, type RetentionPlan } from '../policy/retention.ts';

export interface PreviewPoint {
  id: string;
  pointId: string;
  type: 'full' | 'incremental';
  createdAt: string;
  sizeBytes: number;
  action: 'keep' | 'delete' | 'merge';
  /** kept: the rules that keep it · deleted: why it goes · merged: kept, and why */
  reasons: string[];
  /** merged: the deleted points it takes over, nearest first */
  mergedFrom?: string[];
}

export interface RepositoryPreview {
  repositoryId: string;
  points: PreviewPoint[];
  /** repository point ids, oldest first */
  delete: string[];
  merge: { pointId: string; from: string[] }[];
  bytesFreedEstimate: number;
}

export interface RetentionPreview {
  vmId: string;
  policy: { id: string; name: string; retention: Policy['retention']; maxChainLength: number } | null;
  at: string;
  repositories: RepositoryPreview[];
}

export async function vmPolicy(store: Store, vmId: string): Promise<Policy | undefined> {
  const vm = await store.vms.get(vmId);
  if (!vm) return undefined;
  const a = effectiveAssignment({ id: vm.id, zoneId: vm.zoneId, domainId: vm.domainId, account: vm.account, tags: vm.tags }, await store.policies.assignments());
  return a ? store.policies.get(a.policyId) : undefined;
}

export function planFor(points: RestorePoint[], policy: Policy | undefined, now: Date): RetentionPlan {
  return retentionPlan(
    points.map((p) => ({ id: p.pointId, parentId: parentPointId(points, p), agentParent: p.manifest.parent ?? null, createdAt: p.createdAt, sizeBytes: p.sizeBytes, virtualSizeBytes: p.virtualSizeBytes })),
    policy ? { rules: policy.retention, maxChainLength: policy.maxChainLength, now } : { rules: {}, now },
  );
}

function parentPointId(points: RestorePoint[], p: RestorePoint): string | null {
  if (!p.parentId) return null;
  return points.find((x) => x.id === p.parentId)?.pointId ?? p.manifest.parent ?? null;
}

export async function retentionPreview(store: Store, vmId: string, now: Date): Promise<RetentionPreview> {
  const policy = await vmPolicy(store, vmId);
  const all = await store.points.allForVm(vmId);
  const repos = [...new Set(all.map((p) => p.repositoryId))].sort();
  const repositories = repos.map((repositoryId): RepositoryPreview => {
    const points = all.filter((p) => p.repositoryId === repositoryId);
    const plan = planFor(points, policy, now);
    const merges = new Map(plan.merges.map((m) => [m.pointId, m.from]));
    const gone = new Set(plan.expire);
    return {
      repositoryId,
      points: [...points].reverse().map((p) => ({
        id: p.id, pointId: p.pointId, type: p.type, createdAt: p.createdAt.toISOString(), sizeBytes: p.sizeBytes,
        action: gone.has(p.pointId) ? 'delete' : merges.has(p.pointId) ? 'merge' : 'keep',
        reasons: gone.has(p.pointId) ? [plan.expireReasons[p.pointId]] : plan.reasons[p.pointId] ?? [],
        ...(merges.has(p.pointId) ? { mergedFrom: merges.get(p.pointId) } : {}),
      })),
      delete: [...plan.expire].reverse(),
      merge: plan.merges,
      bytesFreedEstimate: plan.bytesFreedEstimate,
    };
  });
  return {
    vmId, at: now.toISOString(), repositories,
    policy: policy ? { id: policy.id, name: policy.name, retention: policy.retention, maxChainLength: policy.maxChainLength } : null,
  };
}
