/**
 * @layer logic
 * assessAgent: one heartbeat's verdict on one agent, from what it answered (or how it failed)
 * and what was recorded before — the status to record (active / inactive / error), the reason,
 * and the events the change raises:
 *
 *   lost          it answered before (or was never reached) and now does not: no link, SSH
 *                 refused, daemon not running, the call timed out
 *   error         it answered, but cannot back up (the daemon's own `ok: false` and problems),
 *                 or not as an agent does
 *   recovered     active again after lost or error (`up`: the first answer of an agent never seen)
 *   version_drift its version is not the control plane's (raised when first seen so)
 *   work_dir_full its work dir's free space fell below the limit (`work_dir_freed` once back over)
 *
 * Events fire on changes only, so a round every 30 s does not repeat them; the gauges
 * (api/metrics/agents.ts) show the lasting state. `agentHealth` reads the same facts back from a
 * stored row for the API and /metrics.
 */
import type { AgentStatus } from '../../../db/schema.ts';

export interface HealthRules {
  /** the control plane's version: an agent with another one drifts (none: no drift check) */
  controlPlaneVersion?: string;
  /** a work dir with less free space than this is full (default 1 GiB) */
  workDirMinFreeBytes: number;
  /** … or with less than this share of its file system free (default 0.05) */
  workDirMinFreeRatio: number;
}

export const DEFAULT_HEALTH_RULES: HealthRules = { workDirMinFreeBytes: 2 ** 30, workDirMinFreeRatio: 0.05 };

export type HealthProbe =
  | { answered: true; version: string; capabilities: Record<string, unknown> }
  /** `unreachable`: no link or no answer in time (aborted); anything else: it answered wrongly */
  | { answered: false; unreachable: boolean; message: string };

export interface RecordedAgent {
  hostname: string;
  status: AgentStatus;
  statusMessage: string | null;
  agentVersion: string | null;
  lastHeartbeatAt: Date | null;
  capabilities: Record<string, unknown> | null;
}

export type AgentEventKind = 'lost' | 'error' | 'recovered' | 'up' | 'version_drift' | 'work_dir_full' | 'work_dir_freed';

export interface AgentEvent {
  kind: AgentEventKind;
  /** one line for the log and the audit entry */
  message: string;
  details: Record<string, unknown>;
}

export interface Verdict {
  status: AgentStatus;
  /** why it is not active, or the warnings of an active one (drift, full work dir); null when all is well */
  message: string | null;
  events: AgentEvent[];
}

export interface AgentHealthFacts {
  /** the agent's version when it differs from the control plane's */
  versionDrift: string | null;
  workDir: { path: string | null; freeBytes: number; totalBytes: number; full: boolean } | null;
  /** what the agent said it cannot do (its health's problems) */
  problems: string[];
  jobs: { running: number; queued: number } | null;
}

const GiB = 2 ** 30;
const gib = (n: number) => `${(n / GiB).toFixed(1)} GiB`;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The health facts in an agent's recorded capabilities (the health answer the gateway passed on). */
export function agentHealth(caps: Record<string, unknown> | null, version: string | null, rules: HealthRules = DEFAULT_HEALTH_RULES): AgentHealthFacts {
  const wd = caps?.workDir as { path?: unknown; freeBytes?: unknown; totalBytes?: unknown } | undefined;
  const free = num(wd?.freeBytes); const total = num(wd?.totalBytes);
  const workDir = free !== undefined && total !== undefined ? {
    path: typeof wd?.path === 'string' ? wd.path : null, freeBytes: free, totalBytes: total,
    full: free < rules.workDirMinFreeBytes || (total > 0 && free / total < rules.workDirMinFreeRatio),
  } : null;
  const jobs = caps?.jobs as { running?: unknown; queued?: unknown } | undefined;
  return {
    versionDrift: rules.controlPlaneVersion && version && version !== rules.controlPlaneVersion ? version : null,
    workDir,
    problems: Array.isArray(caps?.problems) ? caps.problems.filter((p): p is string => typeof p === 'string') : [],
    jobs: jobs ? { running: num(jobs.running) ?? 0, queued: num(jobs.queued) ?? 0 } : null,
  };
}

export function assessAgent(prev: RecordedAgent, probe: HealthProbe, rules: HealthRules = DEFAULT_HEALTH_RULES): Verdict {
  const name = prev.hostname;
  const events: AgentEvent[] = [];
  const neverSeen = !prev.lastHeartbeatAt;
  const was = prev.status;
  const last = prev.lastHeartbeatAt ? `last heartbeat ${prev.lastHeartbeatAt.toISOString()}` : 'never answered';

  if (!probe.answered) {
    const status: AgentStatus = probe.unreachable ? 'inactive' : 'error';
    // an agent first found unreachable is lost too (it never answered), but only once
    const changed = status !== was || (neverSeen && !prev.statusMessage);
    if (changed) {
      events.push(status === 'inactive'
        ? { kind: 'lost', message: `agent on ${name} lost (${last}): ${probe.message}`, details: { from: was, lastHeartbeatAt: prev.lastHeartbeatAt?.toISOString() ?? null, reason: probe.message } }
        : { kind: 'error', message: `agent on ${name} answers wrongly: ${probe.message}`, details: { from: was, reason: probe.message } });
    }
    return { status, message: probe.message, events };
  }

  const now = agentHealth(probe.capabilities, probe.version, rules);
  const before = agentHealth(prev.capabilities, prev.agentVersion, rules);
  const cannot = probe.capabilities.ok === false;
  const status: AgentStatus = cannot ? 'error' : 'active';
  if (status !== was || (neverSeen && status === 'active')) {
    if (status === 'error') {
      events.push({ kind: 'error', message: `agent on ${name} cannot back up: ${now.problems.join('; ') || 'it says it is not ok'}`, details: { from: was, problems: now.problems } });
    } else {
      events.push(neverSeen
        ? { kind: 'up', message: `agent on ${name} answers (version ${probe.version})`, details: { from: was, version: probe.version } }
        : { kind: 'recovered', message: `agent on ${name} is back (${was} since ${last})`, details: { from: was, lastHeartbeatAt: prev.lastHeartbeatAt?.toISOString() ?? null, version: probe.version } });
    }
  }
  if (now.versionDrift && (prev.agentVersion !== probe.version || !before.versionDrift)) {
    events.push({
      kind: 'version_drift', message: `agent on ${name} runs version ${probe.version}, the control plane ${rules.controlPlaneVersion}: upgrade it (sendense agents upgrade)`,
      details: { version: probe.version, controlPlane: rules.controlPlaneVersion, previous: prev.agentVersion },
    });
  }
  const wd = now.workDir;
  if (wd?.full && !before.workDir?.full) {
    events.push({
      kind: 'work_dir_full', message: `agent on ${name}: work dir ${wd.path ?? ''} is nearly full (${gib(wd.freeBytes)} free of ${gib(wd.totalBytes)}): restores and exports need room there`,
      details: { path: wd.path, freeBytes: wd.freeBytes, totalBytes: wd.totalBytes },
    });
  } else if (wd && !wd.full && before.workDir?.full) {
    events.push({ kind: 'work_dir_freed', message: `agent on ${name}: work dir ${wd.path ?? ''} has room again (${gib(wd.freeBytes)} free)`, details: { path: wd.path, freeBytes: wd.freeBytes, totalBytes: wd.totalBytes } });
  }

  const warnings = [
    ...(cannot ? now.problems.length ? now.problems : ['the agent says it cannot back up'] : []),
    ...(now.versionDrift ? [`version ${now.versionDrift} is not the control plane's ${rules.controlPlaneVersion}`] : []),
    ...(wd?.full ? [`work dir nearly full: ${gib(wd.freeBytes)} free of ${gib(wd.totalBytes)}`] : []),
  ];
  return { status, message: warnings.length ? warnings.join('; ') : null, events };
}
