/**
 * @layer logic
 * Policy schedules are croner patterns (5 or 6 fields, optional seconds) in a time zone. A policy
 * is due when the first run time after its last run (or its creation) has come; a control plane
 * that was down over several run times runs once, not once per missed time.
 */
import { Cron } from 'croner';

export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

function cron(pattern: string, timezone: string): Cron {
  try {
    return new Cron(pattern, { timezone, paused: true });
  } catch (e) {
    throw new ScheduleError(`[policy] invalid schedule '${pattern}' (${timezone}): ${(e as Error).message}`, { cause: e });
  }
}

/** Throws ScheduleError when the pattern or the time zone is not valid. */
export function validateSchedule(pattern: string, timezone = 'UTC'): void {
  const c = cron(pattern, timezone);
  if (!c.nextRun(new Date())) throw new ScheduleError(`[policy] schedule '${pattern}' never runs`);
}

export function nextRun(pattern: string, timezone: string, after: Date): Date | null {
  return cron(pattern, timezone).nextRun(after);
}

export interface Schedulable {
  schedule: string;
  timezone: string;
  enabled: boolean;
  lastRunAt: Date | null;
  createdAt: Date;
}

export function isDue(p: Schedulable, now: Date): boolean {
  if (!p.enabled) return false;
  const next = nextRun(p.schedule, p.timezone, p.lastRunAt ?? p.createdAt);
  return next !== null && next.getTime() <= now.getTime();
}
