/**
 * @layer usecase
 * followAgentJob: watches one agent job to its end through any AgentGateway — its event stream,
 * and when the stream drops, status polls until the agent answers again (then a new stream). It
 * resolves with the terminal status; it rejects with the gateway's `unknown_job` (the agent lost
 * the job), with `unreachable` once the agent stayed silent for `giveUpMs`, or with the signal's
 * reason. Progress goes to `onProgress` as it comes. For restores, verifications and prunes; the
 * backup runner (api/jobs/runner.ts) has its own loop because it also writes progress as it goes.
 */
import { sleep } from '../lib/sleep.ts';
import { AGENT_TERMINAL_STATES, AgentGatewayError, type AgentGateway, type AgentJobStatus, type AgentProgress } from './port.ts';

export interface FollowOptions {
  signal?: AbortSignal;
  /** ms between status polls while the stream is down (default 2000) */
  pollMs?: number;
  /** how long the agent may stay unreachable (default 30 min) */
  giveUpMs?: number;
  onProgress?: (p: AgentProgress) => void;
  log?: (msg: string) => void;
}

const ended = (s: AgentJobStatus) => AGENT_TERMINAL_STATES.includes(s.state);

export async function followAgentJob(gateway: AgentGateway, hostId: string, agentJobId: string, o: FollowOptions = {}): Promise<AgentJobStatus> {
  const pollMs = o.pollMs ?? 2000;
  const giveUpMs = o.giveUpMs ?? 30 * 60_000;
  let silentSince: number | undefined;
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      for await (const ev of gateway.events(hostId, agentJobId, { signal: o.signal })) {
        silentSince = undefined;
        if (ev.type === 'state' && ended(ev.status)) return ev.status;
        const p = ev.type === 'progress' ? ev.progress : ev.status.progress;
        if (p) o.onProgress?.(p);
      }
      const status = await gateway.jobStatus(hostId, agentJobId, { signal: o.signal });
      if (ended(status)) return status;
    } catch (e) {
      o.signal?.throwIfAborted();
      if (e instanceof AgentGatewayError && e.code === 'unknown_job') throw e;
      silentSince ??= Date.now();
      if (Date.now() - silentSince > giveUpMs) {
        throw new AgentGatewayError('unreachable', `host ${hostId}: job ${agentJobId}: the agent did not answer for ${Math.round(giveUpMs / 1000)} s (${(e as Error).message})`, { cause: e });
      }
      o.log?.(`job ${agentJobId} on ${hostId}: ${(e as Error).message}; asking again in ${pollMs} ms`);
    }
    await sleep(pollMs, o.signal);
  }
}
