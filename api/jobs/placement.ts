/**
 * @layer logic
 * Placement: which KVM host's agent runs a VM's backup. Plain data in (the VM, the pools of its
 * disks, CloudStack's KVM hosts, the Sendense agents' health and each host's load), one answer out.
 *
 * - A running VM is read where it runs: its host's agent, unless the health monitor found that
 *   agent down (inactive or error; an agent not checked yet is tried: verdictOf). Otherwise the answer is `host_unavailable` — "host unavailable: <host> agent
 *   <status> since <last heartbeat>" with the reason — never another host: only the host that
 *   runs the VM holds its QEMU process and dirty bitmaps. A migrated VM's new host is simply its
 *   host now (CloudStack says so at dispatch; discovery follows the move).
 * - A stopped VM whose every disk is on shared storage (NFS or SharedMountPoint, not HOST-scoped)
 *   can be read by any agent not found down on an Up, Enabled host that reaches all of those pools
 *   (the pool's cluster for a CLUSTER-scoped pool, its zone for a ZONE-wide one). The least busy
 *   one wins: healthy before unchecked, then fewest jobs (running + queued, the control plane's and the agent's own count,
 *   whichever is higher), then fewest running, then the host name (a stable order). When none is
 *   healthy: `host_unavailable` naming every candidate and its agent's state.
 * - A stopped VM with a disk on local or unshared storage: `not_placeable` (start it, or move the
 *   volume to shared storage).
 * Failing over is placement again: a job waiting in the queue is placed when it is dispatched, so
 * when an agent dies mid-queue its stopped VMs' remaining jobs go to the next healthy agent.
 */

/** Pool types whose volumes every host of the pool's scope reaches (CloudStack's names). */
export const SHARED_POOL_TYPES: readonly string[] = ['NetworkFilesystem', 'SharedMountPoint'];

export interface PlacementVm {
  id: string;
  name: string;
  /** CloudStack's host id while the VM runs (or is paused, migrating…); null when stopped */
  hostId: string | null;
}

export interface PlacementPool {
  id: string;
  name: string;
  type: string;
  /** CLUSTER (the default in CloudStack), ZONE or HOST */
  scope?: string | null;
  clusterId?: string | null;
  zoneId?: string | null;
}

export interface PlacementHost {
  id: string;
  name: string;
  zoneId?: string | null;
  clusterId?: string | null;
  /** CloudStack's host state (Up, Down, Disconnected…) and resource state (Enabled, Maintenance…) */
  state?: string | null;
  resourceState?: string | null;
}

export interface PlacementAgent {
  hostId: string;
  status: 'active' | 'inactive' | 'error';
  statusMessage?: string | null;
  lastHeartbeatAt?: Date | null;
}

export interface HostLoad {
  /** jobs running on the host (dispatched and not finished) */
  running: number;
  /** jobs waiting on the host (the agent's own queue) */
  queued: number;
}

export interface PlacementInput {
  vm: PlacementVm;
  /** the pools of the VM's disks */
  pools: PlacementPool[];
  hosts: PlacementHost[];
  agents: PlacementAgent[];
  /** by host id; a host not listed is idle */
  load?: Record<string, HostLoad>;
}

export type Placement =
  | { ok: true; hostId: string; hostIsCurrent: boolean; reason: string }
  | { ok: false; code: 'host_unavailable' | 'not_placeable'; message: string };

/**
 * healthy: the monitor found it active. unchecked: no verdict yet — no agent row (discovery has
 * not run) or one no heartbeat has checked (a control plane just started): tried, the gateway's
 * answer says the rest, ranked after healthy ones. down: checked and found inactive or in error.
 */
export function verdictOf(a: PlacementAgent | undefined): 'healthy' | 'unchecked' | 'down' {
  if (!a) return 'unchecked';
  if (a.status === 'active') return 'healthy';
  return a.status === 'inactive' && !a.lastHeartbeatAt && !a.statusMessage ? 'unchecked' : 'down';
}

/** "kvm1 agent inactive since 2026-12-01T23:40:00.000Z: no link" — or "kvm1 has no Sendense agent" */
export function agentState(hostName: string, a: PlacementAgent | undefined): string {
  if (!a) return `${hostName} has no Sendense agent known (deploy one: sendense agents deploy)`;
  const since = a.lastHeartbeatAt ? `since ${a.lastHeartbeatAt.toISOString()}` : 'since it was registered (it never answered)';
  return `${hostName} agent ${a.status} ${since}${a.statusMessage ? `: ${a.statusMessage}` : ''}`;
}

function reaches(h: PlacementHost, p: PlacementPool): boolean {
  const scope = (p.scope ?? 'CLUSTER').toUpperCase();
  if (scope === 'ZONE') return !p.zoneId || h.zoneId === p.zoneId;
  if (scope === 'CLUSTER') return (!p.clusterId || h.clusterId === p.clusterId) && (!p.zoneId || !h.zoneId || h.zoneId === p.zoneId);
  return false;
}

const usable = (h: PlacementHost) => (h.state ?? 'Up') === 'Up' && (h.resourceState ?? 'Enabled') === 'Enabled';

export function choosePlacement(input: PlacementInput): Placement {
  const agentOf = new Map(input.agents.map((a) => [a.hostId, a]));
  const { vm } = input;
  if (vm.hostId) {
    const host = input.hosts.find((h) => h.id === vm.hostId);
    const name = host?.name ?? vm.hostId;
    const a = agentOf.get(vm.hostId);
    if (verdictOf(a) !== 'down') return { ok: true, hostId: vm.hostId, hostIsCurrent: true, reason: `VM ${vm.name} runs on ${name}${verdictOf(a) === 'unchecked' ? ' (no health verdict on its agent yet)' : ''}` };
    return { ok: false, code: 'host_unavailable', message: `host unavailable: ${agentState(name, a)} (VM ${vm.name} runs there and only that host can read it; the first backup after the agent is back catches up)` };
  }

  if (input.pools.length === 0) return { ok: false, code: 'not_placeable', message: `VM ${vm.name} is stopped and has no disks on a known storage pool` };
  const unshared = input.pools.filter((p) => !SHARED_POOL_TYPES.includes(p.type) || (p.scope ?? 'CLUSTER').toUpperCase() === 'HOST');
  if (unshared.length) {
    const p = unshared[0];
    return {
      ok: false, code: 'not_placeable',
      message: `VM ${vm.name} is stopped and its disk on ${p.type} pool ${p.name} (${p.scope ?? 'CLUSTER'}) is not shared storage any agent of its cluster reaches: start the VM, or keep its volumes on NFS or SharedMountPoint storage`,
    };
  }
  const candidates = input.hosts.filter((h) => usable(h) && input.pools.every((p) => reaches(h, p)));
  if (candidates.length === 0) {
    return { ok: false, code: 'host_unavailable', message: `host unavailable: VM ${vm.name} is stopped and no Up, Enabled KVM host reaches its storage (${input.pools.map((p) => p.name).join(', ')})` };
  }
  const rank = { healthy: 0, unchecked: 1, down: 2 } as const;
  const ready = candidates.filter((h) => verdictOf(agentOf.get(h.id)) !== 'down');
  if (ready.length === 0) {
    return {
      ok: false, code: 'host_unavailable',
      message: `host unavailable: no healthy agent reaches the storage of stopped VM ${vm.name}: ${candidates.map((h) => agentState(h.name, agentOf.get(h.id))).join('; ')}`,
    };
  }
  const load = (h: PlacementHost) => input.load?.[h.id] ?? { running: 0, queued: 0 };
  const byLoad = [...ready].sort((x, y) => {
    const a = load(x); const b = load(y);
    return rank[verdictOf(agentOf.get(x.id))] - rank[verdictOf(agentOf.get(y.id))] || (a.running + a.queued) - (b.running + b.queued) || a.running - b.running || x.name.localeCompare(y.name) || x.id.localeCompare(y.id);
  });
  const pick = byLoad[0];
  const l = load(pick);
  const skipped = candidates.length - ready.length;
  return {
    ok: true, hostId: pick.id, hostIsCurrent: false,
    reason: `VM ${vm.name} is stopped on shared storage: ${pick.name} is the least busy of ${ready.length} agent(s) reaching it (${l.running} running, ${l.queued} queued)${skipped ? `; ${skipped} host(s) skipped, their agent down` : ''}`,
  };
}
