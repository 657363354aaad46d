/**
 * @layer logic
 * The checkpoint policy of a backup, in one place (as virtnbdbackup keeps its own in
 * virt/checkpoint.py); backup/checkpoint.ts carries it out on the hypervisor.
 *
 * - Every point of a trackable disk (a qcow2 file) gets a checkpoint `sendense-<point id>`: a
 *   persistent dirty bitmap in the image plus, while the VM runs, libvirt's checkpoint record.
 * - Only the newest point's checkpoint is ever a parent, so once a point is committed every
 *   older `sendense-` checkpoint and bitmap goes (record first: a bitmap a record names cannot
 *   be removed). Names outside `sendense-` belong to CloudStack or the admin and are never touched.
 * - Before the job: a parent bitmap QEMU marks inconsistent (it stopped uncleanly) can never be
 *   used again and is removed (the disk goes full); a parent checkpoint libvirt forgot (a
 *   transient domain restarted) is redefined from the repository's record while the VM runs.
 * - A run that fails removes the checkpoint it created (record and bitmaps, also the bitmaps it
 *   added to a stopped VM's images), so the parent stays the newest usable checkpoint.
 */
import type { BitmapInfo, CheckpointRecord, DomainDisk } from '../hypervisor/port.ts';
import { SENDENSE_PREFIX } from '../hypervisor/port.ts';
import { pointIdTime } from '../repository/layout.ts';
import type { PointManifest } from '../repository/manifest.ts';
import type { DiskDecision, DiskFacts } from './decide.ts';

/** Where the parent's bitmap stands, as decideDisk wants it (`bitmaps` undefined: unreadable). */
export function parentBitmapState(disk: DomainDisk, parentCheckpoint: string | null | undefined, bitmaps: readonly BitmapInfo[] | undefined): DiskFacts['bitmap'] {
  if (!parentCheckpoint || disk.kind !== 'file' || disk.format !== 'qcow2') return 'missing';
  if (!bitmaps) return 'unknown';
  const bm = bitmaps.find((b) => b.name === parentCheckpoint);
  return !bm ? 'missing' : bm.inconsistent ? 'inconsistent' : 'present';
}

/** The disk's `sendense-` bitmaps other than the new one: dropped once the new point is committed. */
export function oldBitmaps(bitmaps: readonly BitmapInfo[] | undefined, keep: string): string[] {
  return (bitmaps ?? []).map((b) => b.name).filter((n) => n.startsWith(SENDENSE_PREFIX) && n !== keep);
}

/** libvirt's `sendense-` checkpoint records other than the new one: forgotten after the commit. */
export function checkpointsToForget(known: Iterable<string>, keep: string): string[] {
  return [...known].filter((n) => n.startsWith(SENDENSE_PREFIX) && n !== keep);
}

export interface CheckpointRepair {
  /** inconsistent parent bitmaps to remove (record, then bitmap) */
  drop: { target: string; checkpoint: string }[];
  /** the parent checkpoint to re-register in libvirt (running VMs only) */
  redefine?: CheckpointRecord;
}

/** What to repair before the job, from the parent point and the disks' decisions. */
export function checkpointRepair(head: PointManifest | undefined, disks: readonly { target: string; decision: DiskDecision; parentCheckpoint?: string | null }[], running: boolean): CheckpointRepair {
  if (!head) return { drop: [] };
  const drop: CheckpointRepair['drop'] = [];
  for (const d of disks) {
    const parent = head.disks.find((p) => p.target === d.target);
    if (d.decision.dropInconsistent && parent?.checkpoint) drop.push({ target: d.target, checkpoint: parent.checkpoint });
  }
  const first = disks.find((d) => d.decision.redefine);
  if (!first || !running || !first.parentCheckpoint) return { drop };
  const name = first.parentCheckpoint;
  const redefine: CheckpointRecord = {
    name,
    creationTime: Math.floor(pointIdTime(head.id).getTime() / 1000),
    disks: head.disks.filter((p) => p.checkpoint === name && disks.some((d) => d.target === p.target && d.decision.type === 'incremental'))
      .map((p) => ({ target: p.target, bitmap: name })),
  };
  return { drop, redefine };
}
