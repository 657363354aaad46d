/**
 * @layer logic
 * Full or incremental, as the control plane sees it (the agent then checks the bitmaps, which
 * only it can see: agent/backup/decide.ts). Plain data in, a decision and its reason out.
 *
 * A full when, in this order:
 *   1. one was asked for;
 *   2. the VM has no recorded chain in the repository;
 *   3. the chain is known to be unusable: its head has no checkpoint, its head failed
 *      verification, or the last attempt after it reported the checkpoint invalid;
 *   4. the VM's disks changed since the head (a volume added, removed or resized);
 *   5. the chain is at the policy's maximum length, or this is the policy's every-Nth backup.
 * Otherwise an incremental. What goes to the agent: `full` for a full, and for an incremental
 * `auto` (the agent still takes a full, saying why, when the bitmap turns out unusable — a host
 * crash) or `incremental` when the caller insisted on one (the agent then fails instead).
 */
import type { AgentBackupMode } from '../agents/port.ts';

export type RequestedMode = 'auto' | 'full' | 'incremental';

export interface PolicyLimits {
  /** every Nth backup is a full (1: always full) */
  fullEvery: number;
  /** a chain holds at most this many points, the full included */
  maxChainLength: number;
}

/** Without a policy (a manual backup of an unassigned VM). */
export const DEFAULT_LIMITS: PolicyLimits = { fullEvery: 30, maxChainLength: 30 };

export interface HeadFacts {
  pointId: string;
  /** points in the chain, the full included */
  chainLength: number;
  verification: 'unverified' | 'verified' | 'failed';
  disks: { index: number; volumeId: string | null; virtualSize: number; checkpoint: string | null }[];
}

export interface DecideInput {
  requested: RequestedMode;
  limits: PolicyLimits;
  head?: HeadFacts;
  /** the VM's disks now (from CloudStack), when known */
  disks?: { volumeId: string; size: number }[];
  /** set when a failed job after the head leaves the checkpoint (or the chain on disk) unusable: why */
  checkpointInvalid?: string;
}

export interface Decision {
  type: 'full' | 'incremental';
  reason: string;
  agentMode: AgentBackupMode;
}

export class DecisionError extends Error {
  override name = 'DecisionError';
}

function diskChange(head: HeadFacts, now: { volumeId: string; size: number }[]): string | undefined {
  const before = new Map(head.disks.filter((d) => d.volumeId).map((d) => [d.volumeId!, d]));
  if (before.size === 0) return undefined;
  for (const d of now) {
    const b = before.get(d.volumeId);
    if (!b) return `volume ${d.volumeId} was attached since point ${head.pointId}`;
    if (d.size > 0 && b.virtualSize > 0 && d.size !== b.virtualSize) return `volume ${d.volumeId} was resized (${b.virtualSize} → ${d.size} bytes) since point ${head.pointId}`;
  }
  const ids = new Set(now.map((d) => d.volumeId));
  for (const id of before.keys()) if (!ids.has(id)) return `volume ${id} was detached since point ${head.pointId}`;
  return undefined;
}

export function decideBackup(input: DecideInput): Decision {
  const { head, limits, requested } = input;
  const full = (reason: string): Decision => {
    if (requested === 'incremental') throw new DecisionError(`[policy] an incremental backup is impossible: ${reason}`);
    return { type: 'full', reason, agentMode: 'full' };
  };
  if (requested === 'full') return { type: 'full', reason: 'full backup requested', agentMode: 'full' };
  if (!head) return full('full: no restore point of this VM is recorded in the repository');
  const noCheckpoint = head.disks.find((d) => !d.checkpoint);
  if (noCheckpoint) return full(`full: disk ${noCheckpoint.index} of point ${head.pointId} has no checkpoint`);
  if (head.verification === 'failed') return full(`full: point ${head.pointId} failed verification`);
  if (input.checkpointInvalid) return full(`full: the chain after point ${head.pointId} cannot be trusted (${input.checkpointInvalid})`);
  const changed = input.disks && diskChange(head, input.disks);
  if (changed) return full(`full: ${changed}`);
  if (head.chainLength >= limits.maxChainLength) {
    return full(`full: the chain holds ${head.chainLength} points, the policy's maximum is ${limits.maxChainLength}`);
  }
  if (head.chainLength >= limits.fullEvery) {
    return full(limits.fullEvery === 1 ? 'full: the policy takes only fulls' : `full: every ${ordinal(limits.fullEvery)} backup is a full`);
  }
  return {
    type: 'incremental',
    reason: `incremental since ${head.pointId} (point ${head.chainLength + 1} of the chain)`,
    agentMode: requested === 'incremental' ? 'incremental' : 'auto',
  };
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${s}`;
}
