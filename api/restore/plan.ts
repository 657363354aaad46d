/**
 * @layer logic
 * Restore planning, as plain functions of plain data:
 * - `chooseDisks`: the point's disks to restore — the ones asked for, or all of them (whole VM);
 * - `inPlaceTargets`: the VM volume each disk goes back onto — the volume recorded with the point,
 *   else the one at the disk's device id (vda → 0) — which must be a file the agent can write;
 * - `newVolumeName`: `<vm>-<disk>-restore-<point>` (or the caller's name, suffixed per disk);
 * - `pickRepositoryHost`: which host's agent reads the repository for an upload or a download:
 *   the VM's own host when its agent is active, else an active agent in the VM's zone, else any
 *   active agent, else the VM's host whatever its agent's state (the call then says why it fails).
 *   (In-place restores go to the host CloudStack says reaches the volume: api/restore/runner.ts.)
 * - `restoreProgress`: overall progress over the disks.
 */
import { deviceOfTarget } from '../agents/targets.ts';
import { RestoreError } from './errors.ts';

export const RESTORE_MODES = ['in-place', 'new-volume', 'download'] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

export interface PointDiskInfo {
  index: number;
  target: string;
  /** the CloudStack volume the disk was backed up from, when known */
  volumeId: string | null;
  virtualSize: number;
}

export interface VmVolumeInfo {
  volumeId: string;
  deviceId: number;
  name: string;
  /** file, rbd or block */
  kind: string;
  path: string;
  format: string;
}

export function chooseDisks(point: readonly PointDiskInfo[], asked?: readonly string[]): PointDiskInfo[] {
  if (!asked?.length) return [...point].sort((a, b) => a.index - b.index);
  const missing = asked.filter((t) => !point.some((d) => d.target === t));
  if (missing.length) throw new RestoreError('notfound', `the point has no disk ${missing.join(', ')} (it has ${point.map((d) => d.target).join(', ')})`);
  return point.filter((d) => asked.includes(d.target)).sort((a, b) => a.index - b.index);
}

export function inPlaceTargets(disks: readonly PointDiskInfo[], volumes: readonly VmVolumeInfo[]): { disk: PointDiskInfo; volume: VmVolumeInfo }[] {
  return disks.map((disk) => {
    const device = deviceOfTarget(disk.target);
    const volume = volumes.find((v) => v.volumeId === disk.volumeId) ?? volumes.find((v) => v.deviceId === device);
    if (!volume) throw new RestoreError('conflict', `disk ${disk.target} has no volume on the VM any more (no volume ${disk.volumeId ?? ''} nor one at device ${device}): restore it as a new volume`);
    if (volume.kind !== 'file') throw new RestoreError('invalid', `volume ${volume.name} of disk ${disk.target} is ${volume.kind} storage: in-place restores write volume files (restore it as a new volume)`);
    return { disk, volume };
  });
}

export function newVolumeName(vmName: string, target: string, pointId: string, name?: string, manyDisks = false): string {
  if (name) return manyDisks ? `${name}-${target}` : name;
  return `${vmName}-${target}-restore-${pointId}`;
}

export interface AgentCandidate {
  hostId: string;
  status: string;
  zoneId: string | null;
}

export function pickRepositoryHost(vm: { hostId: string | null; zoneId: string | null }, agents: readonly AgentCandidate[]): string | undefined {
  const active = agents.filter((a) => a.status === 'active');
  return active.find((a) => a.hostId === vm.hostId)?.hostId
    ?? active.find((a) => a.zoneId && a.zoneId === vm.zoneId)?.hostId
    ?? active[0]?.hostId
    ?? vm.hostId
    ?? agents[0]?.hostId;
}

/** 0..1 over `total` disks, `done` of them finished and the current one at `fraction` */
export function restoreProgress(done: number, total: number, fraction = 0): number {
  if (total <= 0) return 0;
  return Math.min(1, Math.max(0, (done + Math.min(1, Math.max(0, fraction))) / total));
}
