/**
 * @layer adapter
 * checkAgent: one heartbeat of an agent over its link — GET /v1/health within a timeout — as the
 * control plane records it:
 * - active: the daemon answered and the host can back up (version, capabilities, latency);
 * - inactive: nothing answered — SSH unreachable, sshd down, the daemon not listening, a timeout;
 * - error: something answered but is not usable — a host key that is not the pinned one, a
 *   refused key, an HTTP error, or a daemon whose health says the host cannot back up (libvirt
 *   down, no pull-mode backup): `error` says why.
 * It never throws.
 */
import type { Capabilities, Health } from '../daemon/service.ts';
import { agentJson } from './client.ts';
import type { AgentLink } from './connect.ts';
import { AgentApiError, isUnreachable, LinkError } from './errors.ts';

export type AgentStatusValue = 'active' | 'inactive' | 'error';

export interface AgentStatus {
  status: AgentStatusValue;
  checkedAt: string;
  latencyMs: number;
  version?: string;
  hostname?: string;
  capabilities?: Capabilities;
  jobs?: Health['jobs'];
  hostKeyFingerprint?: string;
  error?: string;
}

export async function checkAgent(link: Pick<AgentLink, 'client' | 'hostKeyFingerprint'>, o: { timeoutMs?: number; now?: () => Date } = {}): Promise<AgentStatus> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const checkedAt = (o.now ?? (() => new Date()))().toISOString();
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  try {
    const h = await agentJson(await link.client.v1.health.$get(undefined, { init: { signal: AbortSignal.timeout(timeoutMs) } }));
    const base = {
      checkedAt, latencyMs: ms(), version: h.version, hostname: h.hostname, capabilities: h.capabilities, jobs: h.jobs,
      ...(link.hostKeyFingerprint ? { hostKeyFingerprint: link.hostKeyFingerprint } : {}),
    };
    if (!h.ok) return { status: 'error', ...base, error: `[link] the agent on ${h.hostname} cannot back up: ${h.problems.join('; ')}` };
    return { status: 'active', ...base };
  } catch (e) {
    const latencyMs = ms();
    if (e instanceof LinkError) return { status: isUnreachable(e.code) ? 'inactive' : 'error', checkedAt, latencyMs, error: e.message };
    if (e instanceof AgentApiError) return { status: 'error', checkedAt, latencyMs, error: e.message };
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
      return { status: 'inactive', checkedAt, latencyMs, error: `[link] no answer from the agent within ${timeoutMs} ms` };
    }
    return { status: 'error', checkedAt, latencyMs, error: `[link] ${e instanceof Error ? e.message : String(e)}` };
  }
}
