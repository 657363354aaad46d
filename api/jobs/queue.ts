/**
 * @layer logic
 * Which queued jobs may start now: first come, first served, at most `perHostLimit` jobs per KVM
 * host dispatched or running at once, and never two jobs of one VM at a time. A job whose host is
 * not known yet counts against the host '' (one shared limit).
 */
export interface QueuedJob {
  id: string;
  vmId: string;
  hostId: string | null;
}

export interface ActiveJob {
  vmId: string;
  hostId: string | null;
}

/** Ids of the jobs to dispatch, in queue order. `queued` must be oldest first. */
export function pickRunnable(queued: QueuedJob[], active: ActiveJob[], perHostLimit: number): string[] {
  const perHost = new Map<string, number>();
  const busyVms = new Set<string>();
  for (const a of active) {
    perHost.set(a.hostId ?? '', (perHost.get(a.hostId ?? '') ?? 0) + 1);
    busyVms.add(a.vmId);
  }
  const out: string[] = [];
  for (const j of queued) {
    const host = j.hostId ?? '';
    const n = perHost.get(host) ?? 0;
    if (n >= perHostLimit || busyVms.has(j.vmId)) continue;
    perHost.set(host, n + 1);
    busyVms.add(j.vmId);
    out.push(j.id);
  }
  return out;
}
