/**
 * @layer usecase
 * Repository work on an agent: which agent runs it (its jobs are followed by api/agents/follow.ts).
 *
 * Repository work (prune, verify, scan) needs no hypervisor, only the repository: any agent can
 * do it. The VM's own host is preferred (its agent reaches the repository already), then any
 * active agent (the newest heartbeat first), then any agent known at all (the gateway then says
 * whether it is reachable).
 */
import type { Store } from '../../db/store.ts';
import type { AgentGateway } from '../agents/port.ts';

/** What maintenance needs of the AgentGateway (api/agents/port.ts). */
export type MaintenanceGateway = Pick<AgentGateway, 'startPrune' | 'startVerify' | 'scan' | 'jobStatus' | 'events' | 'cancel'>;

export class MaintenanceError extends Error {
  override name = 'MaintenanceError';
  constructor(readonly code: 'no_agent' | 'notfound' | 'agent_failed' | 'rejected' | 'interrupted' | 'busy', message: string, options?: { cause?: unknown }) {
    super(`[maintenance] ${message}`, options);
  }
}

export async function pickAgentHost(store: Store, preferHostId?: string | null): Promise<string> {
  const agents = await store.agents.list();
  const active = agents.filter((a) => a.status === 'active')
    .sort((a, b) => (b.lastHeartbeatAt?.getTime() ?? 0) - (a.lastHeartbeatAt?.getTime() ?? 0));
  const pick = active.find((a) => a.hostId === preferHostId) ?? active[0] ?? agents.find((a) => a.hostId === preferHostId) ?? agents[0];
  if (!pick) throw new MaintenanceError('no_agent', 'no agent is known: repository work needs one (discovery finds the KVM hosts)');
  return pick.hostId;
}
