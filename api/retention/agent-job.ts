/**
 * @layer usecase
 * Repository work on an agent: which agent runs it, and waiting for an agent job's end.
 *
 * Repository work (prune, verify, scan) needs no hypervisor, only the repository: any agent can
 * do it. The VM's own host is preferred (its agent reaches the repository already), then any
 * active agent (the newest heartbeat first), then any agent known at all (the gateway then says
 * whether it is reachable).
 */
import type { Store } from '../../db/store.ts';
import { AGENT_TERMINAL_STATES, AgentGatewayError, type AgentGateway, type AgentJobStatus } from '../agents/port.ts';
import { sleep } from '../lib/sleep.ts';

/** What maintenance needs of the AgentGateway (api/agents/port.ts). */
export type MaintenanceGateway = Pick<AgentGateway, 'startPrune' | 'startVerify' | 'scan' | 'jobStatus'>;

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

/**
 * Polls the agent job until it ends (succeeded, failed or cancelled). The agent keeps running a
 * job whatever happens to the link: an unreachable agent is asked again (every second) for up to
 * `unreachableMs` (default 60 s) before the wait gives up with the gateway's error.
 */
export async function awaitAgentJob(
  gateway: MaintenanceGateway, hostId: string, agentJobId: string, opts: { pollMs?: number; signal?: AbortSignal; unreachableMs?: number } = {},
): Promise<AgentJobStatus> {
  let lostSince: number | undefined;
  for (;;) {
    let s: AgentJobStatus;
    try {
      s = await gateway.jobStatus(hostId, agentJobId, { signal: opts.signal });
      lostSince = undefined;
    } catch (e) {
      if (!(e instanceof AgentGatewayError) || e.code !== 'unreachable' || opts.signal?.aborted) throw e;
      lostSince ??= Date.now();
      if (Date.now() - lostSince > (opts.unreachableMs ?? 60_000)) throw e;
      await sleep(1000, opts.signal);
      continue;
    }
    if (AGENT_TERMINAL_STATES.includes(s.state)) return s;
    await sleep(opts.pollMs ?? 200, opts.signal);
  }
}
