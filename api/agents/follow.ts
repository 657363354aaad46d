/**
 * @layer usecase
 * followAgentJob: the one way the control plane watches an agent job to its end, through any
 * AgentGateway — used by the backup, restore and maintenance runners alike.
 *
 * - The job's event stream first; progress goes to `onProgress` as it comes (awaited, so a
 *   runner that writes progress to the database writes it in order).
 * - When the stream ends without a terminal state, or fails (the link dropped, the agent
 *   restarted), the job's status is polled every `pollMs` until the agent answers again, then a
 *   new stream is opened. The agent keeps running its jobs whatever happens to the link.
 * - Give-up rule: the gateway's `unknown_job` (the agent no longer knows the job) is thrown at
 *   once; any other failure is retried until the agent stayed silent for `giveUpMs`, then an
 *   `unreachable` AgentGatewayError is thrown (its cause: the last failure).
 * - The signal ends the wait at once with the signal's reason; nothing is asked of the agent.
 * It resolves with the terminal status (succeeded, failed or cancelled).
 */
import { sleep } from '../lib/sleep.ts';
import { AGENT_TERMINAL_STATES, AgentGatewayError, type AgentGateway, type AgentJobStatus, type AgentProgress } from './port.ts';

/** What following a job needs of the AgentGateway. */
export type FollowGateway = Pick<AgentGateway, 'events' | 'jobStatus'>;

export interface FollowOptions {
  signal?: AbortSignal;
  /** ms between status polls while the stream is down (default 2000) */
  pollMs?: number;
  /** how long the agent may stay unreachable before the follower gives up (default 30 min) */
  giveUpMs?: number;
  onProgress?: (p: AgentProgress) => void | Promise<void>;
  log?: (msg: string) => void;
}

export const isAgentJobEnded = (s: AgentJobStatus) => AGENT_TERMINAL_STATES.includes(s.state);

export async function followAgentJob(gateway: FollowGateway, hostId: string, agentJobId: string, o: FollowOptions = {}): Promise<AgentJobStatus> {
  const pollMs = o.pollMs ?? 2000;
  const giveUpMs = o.giveUpMs ?? 30 * 60_000;
  let silentSince: number | undefined;
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      for await (const ev of gateway.events(hostId, agentJobId, { signal: o.signal })) {
        silentSince = undefined;
        if (ev.type === 'state' && isAgentJobEnded(ev.status)) return ev.status;
        const p = ev.type === 'progress' ? ev.progress : ev.status.progress;
        if (p) await o.onProgress?.(p);
      }
      // the stream ended without a terminal state: ask
      const status = await gateway.jobStatus(hostId, agentJobId, { signal: o.signal });
      silentSince = undefined;
      if (isAgentJobEnded(status)) return status;
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
