/**
 * @layer logic
 * How a finished backup's point joins the recorded chains — or why it must not be recorded.
 * The agent's manifest is checked against what the control plane asked and what it recorded:
 * the VM must be the job's, a full starts a new chain, and an incremental's parent must be the
 * head of the VM's open chain (otherwise the chain on disk and the one in the database differ,
 * and recording it would make a restore point nobody can restore).
 */
import type { PointManifest } from '../../agent/repository/manifest.ts';
import type { PointRecord } from '../../db/store.ts';

export interface RecordedHead {
  chainId: string;
  /** the database id of the head point */
  id: string;
  /** its repository point id */
  pointId: string;
}

export class PointLinkError extends Error {
  override name = 'PointLinkError';
}

export function linkPoint(m: PointManifest, vmId: string, head: RecordedHead | undefined): PointRecord['chain'] {
  if (m.vm_uuid.toLowerCase() !== vmId.toLowerCase()) {
    throw new PointLinkError(`[jobs] the agent's point ${m.id} is of VM ${m.vm_uuid}, not of ${vmId}`);
  }
  // a full may name the point before it as `parent` (the agent records it so; agent/backup/backup.ts):
  // it depends on nothing, and starts a new chain all the same
  if (m.type === 'full') return { kind: 'new' };
  if (!m.parent) throw new PointLinkError(`[jobs] incremental point ${m.id} has no parent`);
  if (!head) throw new PointLinkError(`[jobs] incremental point ${m.id} builds on ${m.parent}, but no chain of this VM is recorded in this repository`);
  if (head.pointId !== m.parent) {
    throw new PointLinkError(`[jobs] incremental point ${m.id} builds on ${m.parent}, but the recorded chain ends at ${head.pointId}`);
  }
  return { kind: 'extend', chainId: head.chainId, parentId: head.id };
}
