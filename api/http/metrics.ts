/**
 * @layer usecase
 * The gauges /metrics reads from the store at scrape time: jobs by status, restore points and
 * their bytes by repository and source platform, agents by status, VMs, and discovery's last pass.
 */
import { AGENT_STATUSES } from '../../db/schema.ts';
import type { Store } from '../../db/store.ts';
import type { Discovery } from '../discovery/discover.ts';
import type { Sample } from '../metrics/registry.ts';

export async function gauges(store: Store, discovery: Pick<Discovery, 'last' | 'lastError'>): Promise<Sample[]> {
  const [byStatus, usage, agents, vms] = await Promise.all([store.jobs.countByStatus(), store.points.usage(), store.agents.list(), store.vms.count()]);
  const agentCounts = Object.fromEntries(AGENT_STATUSES.map((s) => [s, 0])) as Record<string, number>;
  for (const a of agents) agentCounts[a.status]++;
  return [
    { name: 'sendense_jobs', help: 'Backup jobs by status', type: 'gauge', values: Object.entries(byStatus).map(([status, value]) => ({ labels: { status }, value })) },
    { name: 'sendense_restore_points', help: 'Restore points kept', type: 'gauge', values: usage.map((u) => ({ labels: { repository: u.repositoryId, source_platform: u.sourcePlatform }, value: u.points })) },
    { name: 'sendense_restore_point_bytes', help: 'Bytes the restore points take in their repository', type: 'gauge', values: usage.map((u) => ({ labels: { repository: u.repositoryId, source_platform: u.sourcePlatform }, value: u.bytes })) },
    { name: 'sendense_agents', help: 'Agents by status', type: 'gauge', values: Object.entries(agentCounts).map(([status, value]) => ({ labels: { status }, value })) },
    { name: 'sendense_vms', help: 'CloudStack VMs known (not removed)', type: 'gauge', values: [{ value: vms }] },
    { name: 'sendense_discovery_last_success_timestamp_seconds', help: 'When discovery last succeeded', type: 'gauge', values: [{ value: discovery.last ? Date.parse(discovery.last.at) / 1000 : 0 }] },
    { name: 'sendense_discovery_failing', help: '1 when the last discovery pass failed', type: 'gauge', values: [{ value: discovery.lastError ? 1 : 0 }] },
  ];
}
