/**
 * @layer logic
 * The records a backup commits (docs/FORMAT.md): one disk's entry in the point manifest from
 * what its copy produced, the manifest itself, and the VM's metadata.json after the point.
 */
import { pointIdTime } from '../repository/layout.ts';
import type { PointDisk, PointManifest, VmMetadata } from '../repository/manifest.ts';
import type { BackupPlan, DiskPlan } from './plan.ts';
import { SUMS_BLOCK_SIZE, type SumsTable } from './sums.ts';

/** What one disk's copy produced (copy-disk.ts CopyDiskResult). */
export interface CopiedDisk {
  sums: Pick<SumsTable, 'contentSha256'>;
  bytesRead: number;
  fileSize: number;
  dataClusters: number;
  zeroClusters: number;
}

/** One disk's manifest entry. `bytesSent`: image and sums bytes that went to the repository. */
export function pointDisk(plan: BackupPlan, d: DiskPlan, names: { image: string; sums: string }, copy: CopiedDisk, o: { bytesSent: number; fileSha256: { header: string; body: string } }): PointDisk {
  return {
    index: d.index, target: d.disk.target, type: d.decision.type, reason: d.decision.reason,
    image: names.image, backing: d.parent ? d.parent.image : null,
    checkpoint: d.decision.track ? plan.checkpoint : null, virtual_size: d.virtualSize, file_size: copy.fileSize,
    bytes_read: copy.bytesRead, bytes_written: copy.fileSize, bytes_sent: o.bytesSent,
    data_clusters: copy.dataClusters, zero_clusters: copy.zeroClusters,
    sums: names.sums, block_size: SUMS_BLOCK_SIZE,
    content_sha256: copy.sums.contentSha256(), file_sha256: o.fileSha256,
  };
}

export function pointManifest(plan: BackupPlan, o: {
  disks: PointDisk[]; consistency: string; vmState: string; started: Date; finished: Date; agent: { host: string; version: string };
}): PointManifest {
  return {
    format: 'sendense-point', version: 1, id: plan.pointId, seq: plan.seq, vm_uuid: plan.vmId, type: plan.type, reason: plan.reason,
    parent: plan.parentId,
    created_at: pointIdTime(plan.pointId).toISOString(), started_at: o.started.toISOString(), finished_at: o.finished.toISOString(),
    duration_ms: o.finished.getTime() - o.started.getTime(), consistency: o.consistency, vm_state: o.vmState, disks: o.disks,
    agent: o.agent,
  };
}

/** metadata.json after the point: the request's platform and metadata over what was recorded. */
export function vmMetadata(plan: BackupPlan, previous: VmMetadata | undefined, o: {
  vmName: string; sourcePlatform?: VmMetadata['source_platform']; platformMetadata?: VmMetadata['platform_metadata']; finished: Date;
}): VmMetadata {
  return {
    format: 'sendense-repository-vm', version: 1, vm_uuid: plan.vmId, vm_name: o.vmName,
    source_platform: o.sourcePlatform ?? previous?.source_platform ?? 'kvm',
    platform_metadata: { ...(previous?.platform_metadata ?? {}), ...(o.platformMetadata ?? {}) },
    disks: plan.metadataDisks, updated_at: o.finished.toISOString(),
  };
}
