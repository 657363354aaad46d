/**
 * @layer logic
 * A restore's record (db `restores`): its status and, in `result`, where each disk stands — the
 * agent job doing it, the volume it writes or the volume CloudStack created for it, and the
 * agent's outcome. Written before each step is taken, so a restarted control plane continues
 * from the record (the agent job ids are submitted with a request id derived from the restore
 * and the disk: submitting again returns the same agent job, never a second one).
 *
 *   queued ──▶ running ──▶ succeeded | failed
 *     │           └─cancel─▶ cancelling ──▶ cancelled (or failed/succeeded, when the agent ended first)
 *     └─cancel─▶ cancelled
 */
import type { RestoreStatus } from '../../db/schema.ts';
import type { RestoreOutcome } from '../agents/port.ts';
import type { RestoreMode } from './plan.ts';

export type DiskState = 'pending' | 'running' | 'uploaded' | 'succeeded' | 'failed' | 'cancelled';

export interface RestoreDisk {
  target: string;
  state: DiskState;
  /** in-place: the VM's volume; new-volume: the volume CloudStack created for the upload */
  volumeId?: string;
  /** in-place: the volume file written on the agent host */
  path?: string;
  format?: string;
  /** new-volume: where the agent POSTs the image (getUploadParamsForVolume) */
  upload?: { url: string; headers: Record<string, string> };
  /** new-volume: attached to this VM */
  attachedTo?: string;
  agentJobId?: string;
  outcome?: RestoreOutcome;
  error?: string;
}

export interface RestoreTarget {
  mode: RestoreMode;
  /** the point's repository id (YYYYMMDD-HHMMSS) */
  pointId: string;
  disks: string[];
  attachToVmId?: string | null;
  name?: string | null;
  stopVm?: boolean;
  startVm?: boolean;
  /** download */
  format?: 'qcow2' | 'raw';
}

export interface RestoreResult {
  disks: RestoreDisk[];
  /** in-place: the restore stopped the VM / started it again */
  vmStopped?: boolean;
  vmStarted?: boolean;
  /** download: bytes sent to the client */
  bytesSent?: number;
}

export const RESTORE_TERMINAL: readonly RestoreStatus[] = ['succeeded', 'failed', 'cancelled'];
export const RESTORE_ACTIVE: readonly RestoreStatus[] = ['queued', 'running', 'cancelling'];

export function isRestoreFinished(s: RestoreStatus): boolean {
  return RESTORE_TERMINAL.includes(s);
}

/** the agent request id of one disk of one restore: stable across control-plane restarts */
export function diskRequestId(restoreId: string, target: string): string {
  return `restore-${restoreId}-${target}`;
}
