/**
 * @layer port
 * The AgentGateway contract suite: `agentGatewayContract(name, makeFixture)` runs the same tests
 * against every adapter — the in-memory agent (memory.test.ts) and the SSH link to a real agent
 * daemon with a lab VM (its fixture gives a host id and requests for a VM on that host).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PointManifest } from '../../agent/repository/manifest.ts';
import { AgentGatewayError, type AgentBackupRequest, type AgentGateway, type AgentJobEvent, type AgentJobStatus } from './port.ts';

export interface AgentGatewayFixture {
  gateway: AgentGateway;
  hostId: string;
  /** a host id no agent answers for */
  unreachableHostId: string;
  /** a backup request of a VM on the host, into a repository of its own for this fixture */
  request(mode: AgentBackupRequest['mode']): AgentBackupRequest;
  /** the same VM, but a job that runs long enough (seconds) to be cancelled half-way */
  slowRequest(mode: AgentBackupRequest['mode']): AgentBackupRequest;
  close?(): Promise<void>;
}

async function collect(gw: AgentGateway, hostId: string, jobId: string, signal?: AbortSignal): Promise<AgentJobEvent[]> {
  const out: AgentJobEvent[] = [];
  for await (const ev of gw.events(hostId, jobId, { signal })) out.push(ev);
  return out;
}

function terminal(events: AgentJobEvent[]): AgentJobStatus {
  const last = events.at(-1);
  if (!last || last.type !== 'state') throw new Error(`events did not end with a state event: ${JSON.stringify(last)}`);
  return last.status;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return e instanceof AgentGatewayError ? e.code : `not an AgentGatewayError: ${String(e)}`; }
  return 'no error';
}

export function agentGatewayContract(name: string, makeFixture: () => Promise<AgentGatewayFixture>): void {
  describe(`AgentGateway contract: ${name}`, () => {
    let f: AgentGatewayFixture;
    beforeAll(async () => { f = await makeFixture(); });
    afterAll(async () => { await f?.close?.(); });

    it('health names the agent', async () => {
      const h = await f.gateway.health(f.hostId);
      expect(h.hostname).toBeTruthy();
      expect(h.version).toBeTruthy();
      expect(typeof h.capabilities).toBe('object');
    });

    let fullId = '';
    it('a full backup: a state event first, progress, a terminal state last, with a valid manifest', async () => {
      const req = f.request('full');
      const { agentJobId } = await f.gateway.startBackup(f.hostId, req);
      const events = await collect(f.gateway, f.hostId, agentJobId);
      expect(events[0].type).toBe('state');
      const end = terminal(events);
      expect(end.state).toBe('succeeded');
      const m = PointManifest.parse(end.result?.manifest);
      expect(m.vm_uuid).toBe(req.vmId);
      expect(m.type).toBe('full');
      expect(m.parent).toBeNull();
      fullId = m.id;
      const status = await f.gateway.jobStatus(f.hostId, agentJobId);
      expect(status.state).toBe('succeeded');
      expect(status.result?.manifest.id).toBe(m.id);
      // a finished job's events: just its terminal state
      const again = await collect(f.gateway, f.hostId, agentJobId);
      expect(again).toHaveLength(1);
      expect(terminal(again).state).toBe('succeeded');
      // cancelling it is a no-op
      await f.gateway.cancel(f.hostId, agentJobId);
      expect((await f.gateway.jobStatus(f.hostId, agentJobId)).state).toBe('succeeded');
    });

    it('auto after a full: an incremental on top of it', async () => {
      const { agentJobId } = await f.gateway.startBackup(f.hostId, f.request('auto'));
      const end = terminal(await collect(f.gateway, f.hostId, agentJobId));
      expect(end.state).toBe('succeeded');
      const m = PointManifest.parse(end.result?.manifest);
      expect(m.type).toBe('incremental');
      expect(m.parent).toBe(fullId);
      fullId = m.id;
    });

    it('cancel half-way: the job ends cancelled, no point, and the next incremental builds on the last good point', async () => {
      const { agentJobId } = await f.gateway.startBackup(f.hostId, f.slowRequest('auto'));
      const seen: AgentJobEvent[] = [];
      for await (const ev of f.gateway.events(f.hostId, agentJobId)) {
        seen.push(ev);
        if (ev.type === 'progress' || (ev.type === 'state' && ev.status.state === 'running')) break;
      }
      await f.gateway.cancel(f.hostId, agentJobId);
      const end = terminal(await collect(f.gateway, f.hostId, agentJobId));
      expect(end.state).toBe('cancelled');
      expect(end.result).toBeUndefined();
      const { agentJobId: next } = await f.gateway.startBackup(f.hostId, f.request('auto'));
      const m = PointManifest.parse(terminal(await collect(f.gateway, f.hostId, next)).result?.manifest);
      expect(m.parent).toBe(fullId);
    });

    it('errors: unknown job, unreachable host, aborted call', async () => {
      expect(await codeOf(f.gateway.jobStatus(f.hostId, 'no-such-job'))).toBe('unknown_job');
      expect(await codeOf(f.gateway.cancel(f.hostId, 'no-such-job'))).toBe('unknown_job');
      expect(await codeOf(f.gateway.health(f.unreachableHostId))).toBe('unreachable');
      expect(await codeOf(f.gateway.startBackup(f.unreachableHostId, f.request('full')))).toBe('unreachable');
      const ac = new AbortController();
      ac.abort(new Error('stop'));
      expect(await codeOf(f.gateway.health(f.hostId, { signal: ac.signal }))).toBe('aborted');
    });

    it('breaking out of events, or aborting them, leaves the job running to its end', async () => {
      const { agentJobId } = await f.gateway.startBackup(f.hostId, f.request('auto'));
      const ac = new AbortController();
      const it1 = f.gateway.events(f.hostId, agentJobId, { signal: ac.signal })[Symbol.asyncIterator]();
      expect((await it1.next()).value?.type).toBe('state');
      ac.abort(new Error('client went away'));
      await expect(it1.next()).rejects.toBeTruthy();
      expect(terminal(await collect(f.gateway, f.hostId, agentJobId)).state).toBe('succeeded');
    });
  });
}
