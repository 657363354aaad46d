/**
 * followAgentJob — the one follower of the backup, restore and maintenance runners — on the
 * memory agent (its event stream, a dropped link, an agent that forgot the job) and on a scripted
 * gateway (the give-up rule, exactly).
 */
import { describe, expect, it } from 'vitest';
import { followAgentJob, type FollowGateway } from './follow.ts';
import { MemoryAgentGateway } from './memory.ts';
import { AgentGatewayError, type AgentBackupRequest, type AgentJobEvent, type AgentJobStatus, type AgentProgress } from './port.ts';

const HOST = '11111111-aaaa-4000-8000-000000000001';
const req = (over: Partial<AgentBackupRequest> = {}): AgentBackupRequest => ({
  requestId: 'job-1', vmId: 'b3c1a0de-0000-4000-8000-0000000000aa', domain: 'i-2-3-VM', mode: 'full', repository: 'ssh://repo@127.0.0.1/srv/r1', ...over,
});

/** a gateway whose streams end at once and whose jobStatus answers from a script */
function scripted(steps: (AgentGatewayError | Error | AgentJobStatus['state'])[]): FollowGateway & { calls: number } {
  const g = {
    calls: 0,
    async jobStatus(_h: string, id: string): Promise<AgentJobStatus> {
      const step = steps[Math.min(g.calls++, steps.length - 1)];
      if (step instanceof Error) throw step;
      return { agentJobId: id, kind: 'backup', state: step } as AgentJobStatus;
    },
    /** a stream that ends at once: the follower asks jobStatus */
    events: (): AsyncIterable<AgentJobEvent> => ({ [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true as const, value: undefined }) }) }),
  };
  return g;
}

describe('followAgentJob', () => {
  it('follows a memory agent job through its event stream to the end, progress in order', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 2, ticks: 6 });
    const { agentJobId } = await gw.startBackup(HOST, req());
    const seen: AgentProgress[] = [];
    const end = await followAgentJob(gw, HOST, agentJobId, { pollMs: 5, onProgress: async (p) => { await new Promise((r) => setTimeout(r, 1)); seen.push(p); } });
    expect(end.state).toBe('succeeded');
    expect(end.result?.manifest).toBeDefined();
    expect(seen.length).toBeGreaterThanOrEqual(3);
    const read = seen.map((p) => p.bytesRead);
    expect(read).toEqual([...read].sort((a, b) => a - b));
  });

  it('rides out a dropped link: polls until the agent answers, then streams again', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 5, ticks: 40 });
    const { agentJobId } = await gw.startBackup(HOST, req());
    const logs: string[] = [];
    const following = followAgentJob(gw, HOST, agentJobId, { pollMs: 10, log: (m) => logs.push(m) });
    await new Promise((r) => setTimeout(r, 30));
    gw.setReachable(HOST, false);
    await new Promise((r) => setTimeout(r, 60));
    gw.setReachable(HOST, true);
    const end = await following;
    expect(end.state).toBe('succeeded');
    expect(logs.some((m) => /link dropped|unreachable/.test(m))).toBe(true);
  });

  it('a job the agent forgot rejects at once with unknown_job', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 5, ticks: 40 });
    const { agentJobId } = await gw.startBackup(HOST, req());
    const following = followAgentJob(gw, HOST, agentJobId, { pollMs: 10, giveUpMs: 60_000 });
    await new Promise((r) => setTimeout(r, 20));
    gw.forgetJobs(HOST);
    const t0 = Date.now();
    await expect(following).rejects.toMatchObject({ code: 'unknown_job' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a cancelled job resolves cancelled (a terminal state, not an error)', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 5, ticks: 40 });
    const { agentJobId } = await gw.startBackup(HOST, req());
    const following = followAgentJob(gw, HOST, agentJobId, { pollMs: 10 });
    await gw.cancel(HOST, agentJobId);
    expect((await following).state).toBe('cancelled');
  });

  it('waits through failures, then gives up after giveUpMs with an unreachable error carrying the last one', async () => {
    const lost = new AgentGatewayError('unreachable', '[link] the SSH connection was lost');
    const g = scripted([lost, lost, 'running', 'succeeded']);
    expect((await followAgentJob(g, 'h', 'j', { pollMs: 1 })).state).toBe('succeeded');
    expect(g.calls).toBe(4);
    const t0 = Date.now();
    const err = await followAgentJob(scripted([new Error('protocol: garbage')]), 'h', 'j', { pollMs: 5, giveUpMs: 100 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(err).toBeInstanceOf(AgentGatewayError);
    expect(err).toMatchObject({ code: 'unreachable' });
    expect(((err as Error).cause as Error).message).toBe('protocol: garbage');
    const unknown = new AgentGatewayError('unknown_job', 'no job j');
    const g2 = scripted([unknown]);
    await expect(followAgentJob(g2, 'h', 'j', { pollMs: 1 })).rejects.toBe(unknown);
    expect(g2.calls).toBe(1);
  });

  it('the signal ends the wait with its reason', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 50, ticks: 100 });
    const { agentJobId } = await gw.startBackup(HOST, req());
    const ac = new AbortController();
    const following = followAgentJob(gw, HOST, agentJobId, { signal: ac.signal });
    const reason = new Error('stopping');
    setTimeout(() => ac.abort(reason), 20);
    await expect(following).rejects.toBe(reason);
  });
});
