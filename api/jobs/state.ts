/**
 * @layer logic
 * The backup job state machine. A job is queued; the runner dispatches it (dispatching) to the
 * agent of the VM's host; once the agent accepted it, it is running with an agent job id, and
 * ends succeeded (its point recorded in the same transaction), failed (why, and no point) or
 * cancelled. A cancel of a queued job ends it at once; of a dispatched one, it asks the agent
 * (cancelling) and the agent's answer ends it. A dispatched job goes back to the queue (requeue)
 * when CloudStack places its VM on a host that is already at its limit (a stopped VM's host is
 * only known then).
 *
 *   queued ──dispatch──▶ dispatching ──accepted──▶ running ──succeed──▶ succeeded
 *     │                     │                        │  └──fail──▶ failed
 *     └─cancel─▶ cancelled  └─cancel─▶ cancelling ◀──┘cancel        ▲
 *                                        └──cancelled / succeed / fail ┘
 */
import type { JobStatus } from '../../db/schema.ts';

export type JobEvent = 'dispatch' | 'requeue' | 'accepted' | 'succeed' | 'fail' | 'cancel' | 'cancelled';

const NEXT: Record<JobStatus, Partial<Record<JobEvent, JobStatus>>> = {
  queued: { dispatch: 'dispatching', cancel: 'cancelled', fail: 'failed' },
  dispatching: { requeue: 'queued', accepted: 'running', cancel: 'cancelling', fail: 'failed' },
  running: { succeed: 'succeeded', fail: 'failed', cancel: 'cancelling', cancelled: 'cancelled' },
  cancelling: { accepted: 'cancelling', succeed: 'succeeded', fail: 'failed', cancelled: 'cancelled' },
  succeeded: {},
  failed: {},
  cancelled: {},
};

export const TERMINAL: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

export function isTerminal(s: JobStatus): boolean {
  return TERMINAL.includes(s);
}

export class JobStateError extends Error {
  override name = 'JobStateError';
  constructor(readonly from: JobStatus, readonly event: JobEvent) {
    super(`[jobs] a ${from} job cannot take '${event}'`);
  }
}

/** The status after `event`, or a JobStateError when the event is not allowed. */
export function nextStatus(from: JobStatus, event: JobEvent): JobStatus {
  const to = NEXT[from][event];
  if (!to) throw new JobStateError(from, event);
  return to;
}

/** The statuses `event` is allowed from: the compare-and-set guard of the store's update. */
export function allowedFrom(event: JobEvent): JobStatus[] {
  return (Object.keys(NEXT) as JobStatus[]).filter((s) => NEXT[s][event] !== undefined);
}
