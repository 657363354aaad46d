/**
 * @layer usecase
 * The agents' gauges /metrics reads at scrape time from what the health monitor recorded
 * (api/agents/heartbeat.ts), one series per KVM host (label `host`: CloudStack's host id,
 * `hostname`: the agent's host name): `sendense_agent_up` (1 active, 0 otherwise),
 * `sendense_agent_status` (1 for the current status), `sendense_agent_last_heartbeat_timestamp_seconds`,
 * `sendense_agent_version_drift` (1 when its version is not the control plane's; label `version`),
 * `sendense_agent_work_dir_free_bytes` / `_total_bytes` / `sendense_agent_work_dir_full`, and the
 * jobs it reported (`sendense_agent_jobs_running`, `sendense_agent_jobs_queued`). The events
 * themselves are the counter `sendense_agent_events_total{event}`.
 */
import { AGENT_STATUSES } from '../../db/schema.ts';
import type { Store } from '../../db/store.ts';
import { agentHealth, DEFAULT_HEALTH_RULES, type HealthRules } from '../agents/health/assess.ts';
import type { Sample } from './registry.ts';

export async function agentGauges(store: Pick<Store, 'agents'>, controlPlaneVersion?: string, rules: Omit<HealthRules, 'controlPlaneVersion'> = DEFAULT_HEALTH_RULES): Promise<Sample[]> {
  const agents = await store.agents.list();
  const g = (name: string, help: string): Sample => ({ name, help, type: 'gauge', values: [] });
  const up = g('sendense_agent_up', 'Agent answered its last heartbeat and can back up (1) or not (0)');
  const status = g('sendense_agent_status', 'Agent status (1 for the current one): active, inactive, error');
  const beat = g('sendense_agent_last_heartbeat_timestamp_seconds', 'When the agent last answered a heartbeat (0: never)');
  const drift = g('sendense_agent_version_drift', 'Agent version differs from the control plane\'s (1) or not (0)');
  const free = g('sendense_agent_work_dir_free_bytes', 'Free bytes of the agent\'s work dir file system');
  const total = g('sendense_agent_work_dir_total_bytes', 'Size of the agent\'s work dir file system');
  const full = g('sendense_agent_work_dir_full', 'Agent work dir below its free-space limit (1) or not (0)');
  const running = g('sendense_agent_jobs_running', 'Jobs the agent reported running at its last heartbeat');
  const queued = g('sendense_agent_jobs_queued', 'Jobs the agent reported queued at its last heartbeat');
  for (const a of agents) {
    const labels = { host: a.hostId, hostname: a.hostname };
    const h = agentHealth(a.capabilities, a.agentVersion, { ...rules, controlPlaneVersion });
    up.values.push({ labels, value: a.status === 'active' ? 1 : 0 });
    for (const s of AGENT_STATUSES) status.values.push({ labels: { ...labels, status: s }, value: a.status === s ? 1 : 0 });
    beat.values.push({ labels, value: a.lastHeartbeatAt ? a.lastHeartbeatAt.getTime() / 1000 : 0 });
    drift.values.push({ labels: { ...labels, version: a.agentVersion ?? '' }, value: h.versionDrift ? 1 : 0 });
    if (h.workDir) {
      free.values.push({ labels, value: h.workDir.freeBytes });
      total.values.push({ labels, value: h.workDir.totalBytes });
      full.values.push({ labels, value: h.workDir.full ? 1 : 0 });
    }
    if (h.jobs) {
      running.values.push({ labels, value: h.jobs.running });
      queued.values.push({ labels, value: h.jobs.queued });
    }
  }
  return [up, status, beat, drift, free, total, full, running, queued];
}
