/**
 * @layer logic
 * The overview's figures from a page of backup jobs (newest first, only the VMs the caller may
 * see: the API decided): per VM its latest job says protected (succeeded) or failing; the last
 * 24 h by outcome; bytes written per day for the trend.
 */
interface JobLike { vmId: string; status: string; queuedAt: string; finishedAt: string | null; bytesWritten: number }

export interface JobSummary {
  protectedVms: number;
  failingVms: number;
  last24h: { total: number; succeeded: number; failed: number; running: number };
  trend: { day: string; bytes: number }[];
}

const RUNNING = new Set(['queued', 'dispatching', 'running', 'cancelling']);

export function jobSummary(jobs: JobLike[], now: Date, days = 14): JobSummary {
  const latest = new Map<string, string>();
  for (const j of jobs) {
    if (RUNNING.has(j.status)) continue;
    if (!latest.has(j.vmId)) latest.set(j.vmId, j.status);
  }
  const since = now.getTime() - 86_400_000;
  const recent = jobs.filter((j) => new Date(j.queuedAt).getTime() >= since);
  const perDay = new Map<string, number>();
  for (let i = days - 1; i >= 0; i--) perDay.set(new Date(now.getTime() - i * 86_400_000).toISOString().slice(0, 10), 0);
  for (const j of jobs) {
    if (j.status !== 'succeeded' || !j.finishedAt) continue;
    const day = j.finishedAt.slice(0, 10);
    if (perDay.has(day)) perDay.set(day, (perDay.get(day) ?? 0) + j.bytesWritten);
  }
  const any = [...perDay.values()].some((b) => b > 0);
  return {
    protectedVms: [...latest.values()].filter((s) => s === 'succeeded').length,
    failingVms: [...latest.values()].filter((s) => s === 'failed').length,
    last24h: {
      total: recent.length,
      succeeded: recent.filter((j) => j.status === 'succeeded').length,
      failed: recent.filter((j) => j.status === 'failed').length,
      running: recent.filter((j) => RUNNING.has(j.status)).length,
    },
    trend: any ? [...perDay].map(([day, b]) => ({ day, bytes: b })) : [],
  };
}
