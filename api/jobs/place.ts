/**
 * @layer usecase
 * placeBackup: where a VM's backup runs, asked when the job is dispatched. CloudStack says where
 * the VM is now and what its disks are (resolveVmForAgent: a migrated VM is on its new host), the
 * store says how each agent is (the health monitor's rows) and how busy each host is (the control
 * plane's unfinished jobs and the queue the agent last reported), and placement.ts decides. A VM
 * that cannot be placed is a PlacementError whose code and message go on the failed job
 * (`host_unavailable`: "host unavailable: <host> agent <status> since <time>", `not_placeable`).
 */
import { resolveVmForAgent, type AgentVm } from '../cloudstack/resolve.ts';
import type { CallOptions, CloudStackApi } from '../cloudstack/port.ts';
import type { StoragePool } from '../cloudstack/schemas.ts';
import type { Store } from '../../db/store.ts';
import { choosePlacement, type HostLoad } from './placement.ts';

export type PlaceApi = Pick<CloudStackApi, 'getVirtualMachine' | 'listVolumes' | 'getStoragePool' | 'getHost' | 'listKvmHosts'>;

export class PlacementError extends Error {
  override name = 'PlacementError';
  constructor(readonly code: 'host_unavailable' | 'not_placeable', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface PlaceDeps {
  cs: PlaceApi;
  store: Pick<Store, 'agents' | 'jobs'>;
}

/** jobs the agent reported at its last heartbeat (capabilities.jobs of the health answer) */
function reported(caps: unknown): HostLoad {
  const j = (caps as { jobs?: { running?: unknown; queued?: unknown } } | null)?.jobs;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  return { running: n(j?.running), queued: n(j?.queued) };
}

export async function placeBackup(deps: PlaceDeps, vmId: string, opts: CallOptions = {}): Promise<AgentVm & { placement: string }> {
  const vm = await resolveVmForAgent(deps.cs, vmId, opts);
  const agents = await deps.store.agents.list();
  const agentRows = agents.map((a) => ({ hostId: a.hostId, status: a.status, statusMessage: a.statusMessage, lastHeartbeatAt: a.lastHeartbeatAt }));

  if (vm.hostIsCurrent) {
    const p = choosePlacement({ vm: { id: vm.vmId, name: vm.name, hostId: vm.host.id }, pools: [], hosts: [{ id: vm.host.id, name: vm.host.name }], agents: agentRows });
    if (!p.ok) throw new PlacementError(p.code, p.message);
    return { ...vm, placement: p.reason };
  }

  const pools: StoragePool[] = [];
  for (const id of new Set(vm.disks.map((d) => d.poolId))) pools.push(await deps.cs.getStoragePool(id, opts));
  const hosts = await deps.cs.listKvmHosts({}, opts);
  const load: Record<string, HostLoad> = {};
  const mine = await deps.store.jobs.unfinished();
  for (const a of agents) load[a.hostId] = reported(a.capabilities);
  const active: Record<string, number> = {};
  for (const j of mine) if (j.kvmHostId && j.status !== 'queued') active[j.kvmHostId] = (active[j.kvmHostId] ?? 0) + 1;
  for (const [hostId, n] of Object.entries(active)) {
    const l = load[hostId] ?? { running: 0, queued: 0 };
    // the agent's count is from its last heartbeat; the control plane's is now: the higher one
    load[hostId] = { running: Math.max(l.running, n), queued: l.queued };
  }
  const p = choosePlacement({
    vm: { id: vm.vmId, name: vm.name, hostId: null },
    pools: pools.map((x) => ({ id: x.id, name: x.name, type: x.type, scope: x.scope ?? null, clusterId: x.clusterid ?? null, zoneId: x.zoneid ?? null })),
    hosts: hosts.map((h) => ({ id: h.id, name: h.name, zoneId: h.zoneid ?? null, clusterId: h.clusterid ?? null, state: h.state ?? null, resourceState: h.resourcestate ?? null })),
    agents: agentRows, load,
  });
  if (!p.ok) throw new PlacementError(p.code, p.message);
  const host = hosts.find((h) => h.id === p.hostId)!;
  if (!host.ipaddress) throw new PlacementError('host_unavailable', `host unavailable: CloudStack gives no IP address for host ${host.name}`);
  return { ...vm, host: { id: host.id, name: host.name, ip: host.ipaddress }, placement: p.reason };
}
