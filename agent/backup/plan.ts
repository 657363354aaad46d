/**
 * @layer logic
 * A backup's plan: from the facts read before anything changes (the domain, its disks and
 * checkpoints, the repository's metadata and newest point, each disk's size and bitmaps) to
 * every decision of the run — the repository VM id, which disks, the new point's id and
 * checkpoint name, full or incremental per disk and why (decide.ts), each disk's stable index,
 * which disks get a bitmap, the checkpoint repairs (checkpoint-policy.ts) and the metadata's
 * disk list. Plain data in, plain data out; the orchestration (backup.ts) carries it out.
 */
import type { BitmapInfo, DomainDisk, DomainInfo } from '../hypervisor/port.ts';
import { checkpointName, nextPointId } from '../repository/layout.ts';
import type { PointDisk, PointManifest, VmMetadata } from '../repository/manifest.ts';
import { checkpointRepair, oldBitmaps, parentBitmapState, type CheckpointRepair } from './checkpoint-policy.ts';
import { decideDisk, summarize, type DiskDecision, type Mode } from './decide.ts';
import { BackupError } from './errors.ts';

/** What runBackup reads before it decides anything. */
export interface BackupFacts {
  domain: DomainInfo;
  /** the repository's VM id (repositoryVmId) */
  vmId: string;
  /** the disks to back up (selectDisks), each with its virtual size and bitmaps (undefined: unreadable) */
  disks: { disk: DomainDisk; virtualSize: number; bitmaps: BitmapInfo[] | undefined }[];
  /** names of the checkpoints libvirt knows for the domain */
  checkpoints: readonly string[];
  metadata: VmMetadata | undefined;
  pointIds: readonly string[];
  /** the newest point: the parent of an incremental */
  head: PointManifest | undefined;
  started: Date;
}

export interface DiskPlan {
  disk: DomainDisk;
  /** the disk's index in the repository (stable per target) */
  index: number;
  decision: DiskDecision;
  /** the parent point's record of this disk (incremental only) */
  parent?: PointDisk;
  virtualSize: number;
  /** `sendense-` bitmaps on the disk before this run: dropped once the new point is committed */
  oldBitmaps: string[];
}

export interface BackupPlan {
  vmId: string;
  domain: string;
  /** the domain's state when the run began (the manifest's vm_state) */
  vmState: DomainInfo['state'];
  /** running or paused: a pull-mode backup job; else the images are exported with qemu-nbd */
  running: boolean;
  pointId: string;
  /** the point's place among the VM's points (manifest `seq`): the newest point's plus one */
  seq: number;
  /** the new point's checkpoint (and bitmap) name */
  checkpoint: string;
  type: 'full' | 'incremental';
  reason: string;
  /** the manifest's parent: the previous point (history for a full) */
  parentId: string | null;
  disks: DiskPlan[];
  /** targets that get the new bitmap */
  tracked: string[];
  repair: CheckpointRepair;
  /** the checkpoints libvirt knew before the run */
  knownCheckpoints: string[];
  /** metadata.json's disk list after this run (sizes and formats as they are now) */
  metadataDisks: VmMetadata['disks'];
}

export function isRunning(dom: DomainInfo): boolean {
  return dom.state === 'running' || dom.state === 'paused';
}

/** Refuses a domain in a state that cannot be backed up. */
export function assertBackupable(dom: DomainInfo): void {
  if (dom.state === 'other') throw new BackupError(`[backup] domain ${dom.name} is in a state Sendense cannot back up (neither running, paused nor shut off)`);
}

export function repositoryVmId(requested: string | undefined, dom: DomainInfo): string {
  return (requested ?? dom.uuid).toLowerCase();
}

/** The domain's disks (not cdroms) to back up: all, or the requested targets (each must exist). */
export function selectDisks(domain: string, disks: readonly DomainDisk[], wanted: readonly string[] | undefined): DomainDisk[] {
  let all = disks.filter((d) => d.device === 'disk');
  if (wanted?.length) {
    for (const t of wanted) if (!all.some((d) => d.target === t)) throw new BackupError(`[backup] domain ${domain} has no disk '${t}' (it has ${all.map((d) => d.target).join(', ')})`);
    all = all.filter((d) => wanted.includes(d.target));
  }
  if (!all.length) throw new BackupError(`[backup] domain ${domain} has no disk to back up`);
  return all;
}

/**
 * The next point's `seq`: the newest point's plus one; in a repository written before `seq`
 * existed, the count of points plus one (docs/FORMAT.md "Point ids and order").
 */
export function nextSeq(head: Pick<PointManifest, 'seq'> | undefined, points: number): number {
  return (head?.seq ?? points) + 1;
}

/** `pointId`: the id the run claimed (repository/point-claim.ts); default: the next one (layout.ts nextPointId). */
export function planBackup(f: BackupFacts, mode: Mode, pointId = nextPointId(f.started, f.pointIds)): BackupPlan {
  const running = isRunning(f.domain);
  const head = f.head;
  const known = new Set(f.checkpoints);
  const ckpt = checkpointName(pointId);
  const metaDisks = (f.metadata?.disks ?? []).map((m) => ({ ...m }));
  const disks: DiskPlan[] = [];
  for (const { disk, virtualSize, bitmaps } of f.disks) {
    const parent = head?.disks.find((d) => d.target === disk.target);
    let md = metaDisks.find((m) => m.target === disk.target);
    if (!md) {
      md = { index: metaDisks.reduce((n, m) => Math.max(n, m.index + 1), 0), target: disk.target, virtual_size: virtualSize, source_format: disk.format };
      metaDisks.push(md);
    }
    md.virtual_size = virtualSize;
    md.source_format = disk.format;
    const decision = decideDisk(mode, {
      target: disk.target, kind: disk.kind, format: disk.format, virtualSize,
      parent: parent && head ? { pointId: head.id, checkpoint: parent.checkpoint, virtualSize: parent.virtual_size } : undefined,
      bitmap: parentBitmapState(disk, parent?.checkpoint, bitmaps),
      libvirtKnowsCheckpoint: Boolean(parent?.checkpoint && known.has(parent.checkpoint)),
    });
    disks.push({
      disk, index: md.index, decision, parent: decision.type === 'incremental' ? parent : undefined, virtualSize,
      oldBitmaps: oldBitmaps(bitmaps, ckpt),
    });
  }
  const summary = summarize(disks.map((d) => d.decision));
  return {
    vmId: f.vmId, domain: f.domain.name, vmState: f.domain.state, running, pointId, seq: nextSeq(head, f.pointIds.length), checkpoint: ckpt, type: summary.type, reason: summary.reason,
    parentId: summary.type === 'incremental' ? head!.id : (head?.id ?? null),
    disks,
    tracked: disks.filter((d) => d.decision.track).map((d) => d.disk.target),
    repair: checkpointRepair(head, disks.map((d) => ({ target: d.disk.target, decision: d.decision, parentCheckpoint: d.parent?.checkpoint })), running),
    knownCheckpoints: [...known],
    metadataDisks: metaDisks.sort((a, b) => a.index - b.index),
  };
}
