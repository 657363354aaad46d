/**
 * @layer usecase
 * Agent heartbeat: asks every known host's agent for its health and records the answer —
 * active (version, capabilities, host key fingerprint), inactive (no link: host down, SSH
 * refused, daemon not running) or error (it answered, but not as an agent does). A status
 * change goes to the audit log.
 */
import type { Store } from '../../db/store.ts';
import { AgentGatewayError, type AgentGateway } from './port.ts';

export interface HeartbeatDeps {
  store: Store;
  gateway: AgentGateway;
  clock?: () => Date;
  /** per host (default 10 s) */
  timeoutMs?: number;
}

export async function checkAgents(deps: HeartbeatDeps): Promise<{ active: number; inactive: number; error: number }> {
  const clock = deps.clock ?? (() => new Date());
  const out = { active: 0, inactive: 0, error: 0 };
  const agents = await deps.store.agents.list();
  await Promise.all(agents.map(async (a) => {
    const at = clock();
    let status: 'active' | 'inactive' | 'error';
    try {
      const h = await deps.gateway.health(a.hostId, { signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000) });
      status = 'active';
      await deps.store.agents.heartbeat(a.hostId, {
        status, at, message: null, version: h.version, hostname: h.hostname, capabilities: h.capabilities,
        sshKeyFingerprint: h.sshKeyFingerprint ?? undefined,
      });
    } catch (e) {
      status = e instanceof AgentGatewayError && (e.code === 'unreachable' || e.code === 'aborted') ? 'inactive' : 'error';
      await deps.store.agents.heartbeat(a.hostId, { status, at, message: (e as Error).message });
    }
    out[status]++;
    if (status !== a.status) {
      await deps.store.audit.append({
        at, actor: 'system:heartbeat', via: 'system', action: `agent.${status}`, targetType: 'host', targetId: a.hostId,
        outcome: status === 'active' ? 'ok' : 'error', details: { from: a.status, hostname: a.hostname },
      });
    }
  }));
  return out;
}
