/**
 * @layer usecase
 * The agent health monitor, one round: asks every known host's agent for its health (at once,
 * each within `timeoutMs`), records the verdict in cloudstack_agents (api/agents/health/assess.ts:
 * active / inactive / error, the reason, last heartbeat, version, capabilities with the agent's
 * job counts and work dir space) and raises the events a change brings — an audit entry
 * (`agent.lost`, `agent.error`, `agent.recovered`, `agent.up`, `agent.version_drift`,
 * `agent.work_dir_full`, `agent.work_dir_freed`), a log line and the `sendense_agent_events_total`
 * counter. When an agent is back, the backups that failed `host_unavailable` on its host (or for
 * want of any agent, for stopped VMs) and were the VM's last attempt are queued again: the first
 * good run catches up without waiting for the next schedule. An agent lost for `failoverAfterMs`
 * has its in-flight backups of stopped VMs failed over to other agents (health/failover.ts).
 *
 * The control plane runs it every `heartbeatSeconds` under the round lease `round:heartbeat`
 * (one instance at a time). A lost agent is seen within one round plus `timeoutMs`.
 */
import type { Store } from '../../db/store.ts';
import type { EnqueueRequest } from '../jobs/runner.ts';
import type { MetricsRegistry } from '../metrics/registry.ts';
import { failOverLostAgent } from './health/failover.ts';
import { assessAgent, DEFAULT_HEALTH_RULES, type AgentEventKind, type HealthProbe, type HealthRules } from './health/assess.ts';
import { AgentGatewayError, type AgentGateway } from './port.ts';

export interface HeartbeatDeps {
  store: Store;
  gateway: AgentGateway;
  clock?: () => Date;
  /** per host (default 10 s) */
  timeoutMs?: number;
  /** the control plane's version (version drift) */
  version?: string;
  rules?: Partial<Omit<HealthRules, 'controlPlaneVersion'>>;
  log?: (msg: string) => void;
  metrics?: MetricsRegistry;
  /** queues the catch-up backups when an agent is back, and the failed-over ones (none: neither) */
  runner?: { enqueue(req: EnqueueRequest): Promise<unknown> };
  /** a lost agent's in-flight stopped-VM backups fail over once it has been lost this long (default 60 s) */
  failoverAfterMs?: number;
}

export interface HeartbeatReport {
  active: number;
  inactive: number;
  error: number;
  events: { hostId: string; hostname: string; kind: AgentEventKind; message: string }[];
  /** VM ids whose backup was queued again because their host's agent is back */
  caughtUp: string[];
  /** VM ids whose in-flight backup on a lost agent was failed over (queued again for another) */
  failedOver: string[];
}

const AUDIT_OUTCOME: Record<AgentEventKind, 'ok' | 'error'> = {
  lost: 'error', error: 'error', recovered: 'ok', up: 'ok', version_drift: 'error', work_dir_full: 'error', work_dir_freed: 'ok',
};

export async function checkAgents(deps: HeartbeatDeps): Promise<HeartbeatReport> {
  const clock = deps.clock ?? (() => new Date());
  const rules: HealthRules = { ...DEFAULT_HEALTH_RULES, ...deps.rules, controlPlaneVersion: deps.version };
  const out: HeartbeatReport = { active: 0, inactive: 0, error: 0, events: [], caughtUp: [], failedOver: [] };
  const agents = await deps.store.agents.list();
  // events name the host as CloudStack does (the agent's own host name may be anything)
  const hostNames = new Map((await deps.store.hosts.list({ includeRemoved: true })).map((h) => [h.id, h.name]));
  const back: string[] = [];
  await Promise.all(agents.map(async (a) => {
    const at = clock();
    let probe: HealthProbe;
    let answer: Awaited<ReturnType<AgentGateway['health']>> | undefined;
    try {
      answer = await deps.gateway.health(a.hostId, { signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000) });
      probe = { answered: true, version: answer.version, capabilities: answer.capabilities };
    } catch (e) {
      const unreachable = e instanceof AgentGatewayError ? e.code === 'unreachable' || e.code === 'aborted' : (e as Error)?.name === 'TimeoutError';
      probe = { answered: false, unreachable, message: (e as Error).message };
    }
    const name = hostNames.get(a.hostId) ?? a.hostname;
    const v = assessAgent({ ...a, hostname: name }, probe, rules);
    await deps.store.agents.heartbeat(a.hostId, answer
      ? { status: v.status, at, message: v.message, version: answer.version, hostname: answer.hostname, capabilities: answer.capabilities, sshKeyFingerprint: answer.sshKeyFingerprint ?? undefined }
      : { status: v.status, at, message: v.message });
    out[v.status]++;
    for (const ev of v.events) {
      out.events.push({ hostId: a.hostId, hostname: name, kind: ev.kind, message: ev.message });
      deps.log?.(`[agents] ${ev.message}`);
      deps.metrics?.inc('sendense_agent_events_total', 'Agent health events raised (lost, error, recovered, up, version_drift, work_dir_full, work_dir_freed)', { event: ev.kind });
      await deps.store.audit.append({
        at, actor: 'system:health', via: 'system', action: `agent.${ev.kind}`, targetType: 'host', targetId: a.hostId,
        outcome: AUDIT_OUTCOME[ev.kind], details: { host: name, agentHostname: answer?.hostname ?? a.hostname, message: ev.message, ...ev.details },
      });
      if (ev.kind === 'recovered' || ev.kind === 'up') back.push(a.hostId);
    }
    if (deps.runner && v.status === 'inactive') {
      out.failedOver.push(...await failOverLostAgent({ store: deps.store, runner: deps.runner, clock, log: deps.log }, { ...a, hostname: name, status: v.status, statusMessage: v.message }, deps.failoverAfterMs ?? 60_000));
    }
  }));
  if (deps.runner && back.length) out.caughtUp = await catchUp(deps, back);
  return out;
}

/** Queues again the VMs whose last backup failed `host_unavailable` on one of `hosts` (or on no host). */
async function catchUp(deps: HeartbeatDeps, hosts: string[]): Promise<string[]> {
  const failed = await deps.store.jobs.list({ status: ['failed'], limit: 500 });
  const seen = new Set<string>();
  const queued: string[] = [];
  for (const j of failed) {
    if (j.errorCode !== 'host_unavailable' || seen.has(j.platformVmId)) continue;
    seen.add(j.platformVmId);
    if (j.kvmHostId && !hosts.includes(j.kvmHostId)) continue;
    const [newest] = await deps.store.jobs.list({ vmId: j.platformVmId, limit: 1 });
    if (newest?.id !== j.id) continue; // a later attempt exists: nothing to catch up
    try {
      await deps.runner!.enqueue({ vmId: j.platformVmId, requested: j.requestedMode, trigger: j.trigger, policyId: j.policyId, requestedBy: j.requestedBy, quiesce: j.quiesce });
      queued.push(j.platformVmId);
      deps.log?.(`[agents] catching up: backup of ${j.vmName} queued again (its last one failed: ${j.error})`);
    } catch (e) {
      deps.log?.(`[agents] catching up ${j.vmName}: ${(e as Error).message}`);
    }
  }
  return queued;
}
