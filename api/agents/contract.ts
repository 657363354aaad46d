/**
 * @layer testing
 * The AgentGateway contract suite: `agentGatewayContract(name, makeFixture)` runs the same tests
 * against every adapter — the in-memory agent (memory.test.ts) and the SSH link to a real agent
 * daemon with a lab VM (its fixture gives a host id and requests for a VM on that host).
 * After the backups: a restore to a file (digest = the point's), a restore of a missing point,
 * verification, scan, a raw export, and last a prune that merges the next point forward.
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
  /** an absolute path on the agent host where a restore may write a new file */
  scratchPath(name: string): string;
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
    const manifests: PointManifest[] = [];
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
      expect(end.kind).toBe('backup');
      fullId = m.id;
      manifests.push(m);
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
      manifests.push(m);
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

    const ended = async (start: Promise<{ agentJobId: string }>) => terminal(await collect(f.gateway, f.hostId, (await start).agentJobId));

    it('restore of a point\'s disk to a file: a restore outcome whose digest is the point\'s', async () => {
      const [full] = manifests;
      const req = f.request('auto');
      const vda = full.disks[0];
      const end = await ended(f.gateway.startRestore(f.hostId, {
        requestId: `restore-${full.id}`, repository: req.repository, vmId: req.vmId, disk: vda.target, point: full.id,
        destination: { kind: 'file', path: f.scratchPath(`restore-${full.id}.qcow2`), format: 'qcow2' },
      }));
      expect(end.kind).toBe('restore');
      expect(end.state, JSON.stringify(end.error)).toBe('succeeded');
      expect(end.result).toBeUndefined();
      expect(end.restore).toMatchObject({ pointId: full.id, disk: vda.target, destination: 'file', format: 'qcow2', virtualSize: vda.virtual_size, contentSha256: vda.content_sha256 });
      expect(end.restore!.chain).toHaveLength(1);
      // the newest point by default, through its whole chain
      const newest = PointManifest.parse((await ended(f.gateway.startBackup(f.hostId, f.request('auto')))).result?.manifest);
      manifests.push(newest);
      const last = await ended(f.gateway.startRestore(f.hostId, {
        requestId: 'restore-newest', repository: req.repository, vmId: req.vmId, disk: vda.target,
        destination: { kind: 'file', path: f.scratchPath('restore-newest.raw'), format: 'raw' },
      }));
      expect(last.state, JSON.stringify(last.error)).toBe('succeeded');
      expect(last.restore?.pointId).toBe(manifests.at(-1)!.id);
      expect(last.restore?.chain.length).toBeGreaterThan(1);
      expect(last.restore?.contentSha256).toBe(manifests.at(-1)!.disks[0].content_sha256);
    });

    it('restore of a point that does not exist: refused or failed, never succeeded', async () => {
      const req = f.request('auto');
      let state = 'rejected';
      try {
        state = (await ended(f.gateway.startRestore(f.hostId, {
          requestId: 'restore-missing', repository: req.repository, vmId: req.vmId, disk: 'vda', point: '19990101-000000',
          destination: { kind: 'file', path: f.scratchPath('missing.qcow2') },
        }))).state;
      } catch (e) {
        expect(e).toBeInstanceOf(AgentGatewayError);
      }
      expect(['rejected', 'failed']).toContain(state);
    });

    it('verify: every point checks out', async () => {
      const req = f.request('auto');
      const end = await ended(f.gateway.startVerify(f.hostId, { requestId: 'verify-all', repository: req.repository, vmId: req.vmId }));
      expect(end.kind).toBe('verify');
      expect(end.state, JSON.stringify(end.error)).toBe('succeeded');
      expect(end.verify?.ok).toBe(true);
      for (const m of manifests) expect(end.verify?.points.map((p) => p.pointId)).toContain(m.id);
    });

    it('scan: the VM with its points', async () => {
      const req = f.request('auto');
      const out = await f.gateway.scan(f.hostId, { repository: req.repository, vmId: req.vmId });
      const vm = out.vms.find((v) => v.vmId === req.vmId);
      expect(vm?.points.map((x) => x.id)).toEqual(expect.arrayContaining(manifests.map((m) => m.id)));
      expect(vm?.bytesUsed).toBeGreaterThan(0);
    });

    it('export of a point\'s disk as raw: as many bytes as announced, the virtual size', async () => {
      const req = f.request('auto');
      const [full] = manifests;
      const x = await f.gateway.exportImage(f.hostId, { repository: req.repository, vmId: req.vmId, disk: 'vda', point: full.id, format: 'raw' });
      let n = 0;
      for await (const chunk of x.stream as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength;
      expect(x.format).toBe('raw');
      expect(n).toBe(full.disks[0].virtual_size);
      if (x.size !== undefined) expect(x.size).toBe(n);
      expect(await codeOf(f.gateway.exportImage(f.hostId, { repository: req.repository, vmId: req.vmId, disk: 'vda', point: '19990101-000000', format: 'raw' }))).toBe('rejected');
    });

    it('prune of the oldest point: the next one is merged forward into a full, the rest still restore', async () => {
      const req = f.request('auto');
      const [full, next] = manifests;
      const end = await ended(f.gateway.startPrune(f.hostId, { requestId: 'prune-1', repository: req.repository, vmId: req.vmId, remove: [full.id] }));
      expect(end.kind).toBe('prune');
      expect(end.state, JSON.stringify(end.error)).toBe('succeeded');
      expect(end.prune?.removed).toEqual([full.id]);
      expect(end.prune?.merged).toEqual([expect.objectContaining({ pointId: next.id, from: [full.id] })]);
      const again = await ended(f.gateway.startRestore(f.hostId, {
        requestId: 'restore-after-prune', repository: req.repository, vmId: req.vmId, disk: 'vda', point: next.id,
        destination: { kind: 'file', path: f.scratchPath('after-prune.qcow2') },
      }));
      expect(again.restore?.contentSha256).toBe(next.disks[0].content_sha256);
      expect(again.restore?.chain).toHaveLength(1);
    });
  });
}
