import { describe, expect, it } from 'vitest';
import { AgentGatewayError, type AgentJobStatus } from '../agents/port.ts';
import { awaitAgentJob, type MaintenanceGateway } from './agent-job.ts';

/** a gateway whose jobStatus answers from a script: an error to throw, or a state */
function scripted(steps: (AgentGatewayError | AgentJobStatus['state'])[]): MaintenanceGateway & { calls: number } {
  const g = {
    calls: 0,
    async jobStatus(_h: string, id: string): Promise<AgentJobStatus> {
      const step = steps[Math.min(g.calls++, steps.length - 1)];
      if (step instanceof Error) throw step;
      return { agentJobId: id, state: step };
    },
    startPrune: () => { throw new Error('unused'); },
    startVerify: () => { throw new Error('unused'); },
    scan: () => { throw new Error('unused'); },
  };
  return g;
}

describe('awaitAgentJob', () => {
  it('waits through a lost link: the agent keeps the job', async () => {
    const lost = new AgentGatewayError('unreachable', '[link] the SSH connection was lost');
    const g = scripted(['running', lost, lost, 'running', 'succeeded']);
    expect((await awaitAgentJob(g, 'h', 'j', { pollMs: 1 })).state).toBe('succeeded');
    expect(g.calls).toBe(5);
  });

  it('gives up after unreachableMs, and at once on any other error', async () => {
    const lost = new AgentGatewayError('unreachable', 'gone');
    await expect(awaitAgentJob(scripted([lost]), 'h', 'j', { pollMs: 1, unreachableMs: 500 })).rejects.toBe(lost);
    const unknown = new AgentGatewayError('unknown_job', 'no job j');
    const g = scripted([unknown]);
    await expect(awaitAgentJob(g, 'h', 'j', { pollMs: 1 })).rejects.toBe(unknown);
    expect(g.calls).toBe(1);
  });
});
