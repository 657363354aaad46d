/**
 * @layer logic
 * Full or incremental, per disk, with the reason recorded. Plain data in, plain data out.
 *
 * An incremental of a disk needs: a parent point in the repository with this disk, the disk still a
 * qcow2 file of the same size, and the parent's `sendense-` bitmap in the image, consistent. libvirt
 * having forgotten the checkpoint (a transient domain was restarted) is not a reason for a full: the
 * checkpoint is redefined from the record.
 */
export type Mode = 'auto' | 'full' | 'incremental';

export interface DiskFacts {
  target: string;
  kind: 'file' | 'block' | 'network' | 'volume';
  format: string;
  virtualSize: number;
  parent?: { pointId: string; checkpoint: string | null; virtualSize: number };
  /** the parent's bitmap in the disk image */
  bitmap: 'present' | 'missing' | 'inconsistent' | 'unknown';
  /** libvirt still lists the parent's checkpoint for this domain */
  libvirtKnowsCheckpoint: boolean;
}

export interface DiskDecision {
  target: string;
  type: 'full' | 'incremental';
  reason: string;
  /** redefine the parent's checkpoint in libvirt before the backup */
  redefine: boolean;
  /** remove the parent's inconsistent bitmap (it can never be used again) */
  dropInconsistent: boolean;
  /** create a bitmap for the next incremental (qcow2 files only) */
  track: boolean;
}

export class DecisionError extends Error {
  override name = 'DecisionError';
}

export function decideDisk(mode: Mode, d: DiskFacts): DiskDecision {
  const trackable = d.kind === 'file' && d.format === 'qcow2';
  const base = { target: d.target, redefine: false, dropInconsistent: false, track: trackable };
  const full = (reason: string, extra: Partial<DiskDecision> = {}): DiskDecision => ({ ...base, type: 'full', reason, ...extra });
  if (mode === 'full') return full('full backup requested');
  let why: string | undefined;
  let extra: Partial<DiskDecision> = {};
  if (!trackable) {
    why = d.kind !== 'file'
      ? `${d.target} is a ${d.kind} disk: no persistent dirty bitmap, every backup is full`
      : `${d.target} is ${d.format}, not qcow2: no persistent dirty bitmap, every backup is full`;
  } else if (!d.parent) {
    why = `no earlier restore point of ${d.target} in the repository`;
  } else if (!d.parent.checkpoint) {
    why = `the previous point ${d.parent.pointId} of ${d.target} has no checkpoint`;
  } else if (d.parent.virtualSize !== d.virtualSize) {
    why = `${d.target} was resized (${d.parent.virtualSize} → ${d.virtualSize} bytes) since point ${d.parent.pointId}`;
  } else if (d.bitmap === 'inconsistent') {
    why = `bitmap ${d.parent.checkpoint} of ${d.target} is inconsistent (QEMU stopped uncleanly, e.g. a host crash): changes since ${d.parent.pointId} are unknown`;
    extra = { dropInconsistent: true };
  } else if (d.bitmap === 'missing') {
    why = `bitmap ${d.parent.checkpoint} is missing from ${d.target}'s image (disk replaced or bitmap removed): changes since ${d.parent.pointId} are unknown`;
  } else if (d.bitmap === 'unknown') {
    why = `the bitmaps of ${d.target} could not be read`;
  }
  if (why) {
    if (mode === 'incremental') throw new DecisionError(`[backup] incremental backup of ${d.target} impossible: ${why}; run with --mode auto or full`);
    return full(`full: ${why}`, extra);
  }
  return {
    ...base,
    type: 'incremental',
    reason: d.libvirtKnowsCheckpoint
      ? `incremental since ${d.parent!.pointId} (checkpoint ${d.parent!.checkpoint})`
      : `incremental since ${d.parent!.pointId}: libvirt had forgotten checkpoint ${d.parent!.checkpoint} (domain restarted), redefined from the repository record`,
    redefine: !d.libvirtKnowsCheckpoint,
  };
}

/** The point's type and reason from its disks' decisions. */
export function summarize(decisions: DiskDecision[]): { type: 'full' | 'incremental'; reason: string } {
  const incr = decisions.filter((d) => d.type === 'incremental');
  if (incr.length === 0) return { type: 'full', reason: decisions.map((d) => d.reason).filter((r, i, a) => a.indexOf(r) === i).join('; ') };
  const fulls = decisions.filter((d) => d.type === 'full');
  return {
    type: 'incremental',
    reason: [incr[0].reason, ...fulls.map((d) => d.reason)].join('; '),
  };
}
