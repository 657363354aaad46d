import { describe, expect, it } from 'vitest';
import { PointManifest } from '../../agent/repository/manifest.ts';
import { agentGatewayContract } from './contract.ts';
import { MemoryAgentGateway } from './memory.ts';
import type { AgentBackupRequest, AgentJobStatus } from './port.ts';

const HOST = '11111111-aaaa-4000-8000-000000000001';
const req = (mode: AgentBackupRequest['mode'], over: Partial<AgentBackupRequest> = {}): AgentBackupRequest => ({
  requestId: 'job-1', vmId: 'b3c1a0de-0000-4000-8000-0000000000aa', domain: 'i-2-3-VM', mode, repository: 'ssh://repo@127.0.0.1/srv/r1', ...over,
});

agentGatewayContract('memory', async () => {
  const gateway = new MemoryAgentGateway({ tickMs: 2, script: (_h, r) => (r.requestId === 'slow' ? { ticks: 500 } : undefined) });
  gateway.setReachable('dead-host', false);
  return {
    gateway, hostId: HOST, unreachableHostId: 'dead-host',
    request: (mode) => req(mode),
    slowRequest: (mode) => req(mode, { requestId: 'slow' }),
    scratchPath: (name) => `/tmp/memory-agent/${name}`,
  };
});

async function finish(gw: MemoryAgentGateway, id: string, host = HOST): Promise<AgentJobStatus> {
  let last: AgentJobStatus | undefined;
  for await (const ev of gw.events(host, id)) if (ev.type === 'state') last = ev.status;
  return last!;
}

describe('MemoryAgentGateway', () => {
  it('a scripted failure ends the job failed with the error, and records no point', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 1, script: () => ({ fail: { code: 'nbd', message: '[nbd] connection reset', atTick: 2 } }) });
    const { agentJobId } = await gw.startBackup(HOST, req('full'));
    const end = await finish(gw, agentJobId);
    expect(end.state).toBe('failed');
    expect(end.error).toEqual({ code: 'nbd', message: '[nbd] connection reset' });
    expect(gw.points('ssh://repo@127.0.0.1/srv/r1', req('full').vmId)).toHaveLength(0);
  });

  it('an invalidated checkpoint: auto takes a full and says why, incremental fails', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 1 });
    await finish(gw, (await gw.startBackup(HOST, req('full'))).agentJobId);
    gw.invalidateCheckpoint(req('full').vmId);
    const inc = await finish(gw, (await gw.startBackup(HOST, req('incremental'))).agentJobId);
    expect(inc.state).toBe('failed');
    expect(inc.error?.code).toBe('incremental_impossible');
    const auto = await finish(gw, (await gw.startBackup(HOST, req('auto'))).agentJobId);
    const m = PointManifest.parse(auto.result?.manifest);
    expect(m.type).toBe('full');
    expect(m.reason).toMatch(/inconsistent/);
  });

  it('refuses a second job for the same domain while one runs; counts what ran at once', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 1 });
    const a = await gw.startBackup(HOST, req('full'));
    await expect(gw.startBackup(HOST, req('full'))).rejects.toMatchObject({ code: 'rejected' });
    const b = await gw.startBackup(HOST, req('full', { domain: 'i-2-4-VM', vmId: 'other' }));
    await Promise.all([finish(gw, a.agentJobId), finish(gw, b.agentJobId)]);
    expect(gw.maxConcurrent(HOST)).toBe(2);
  });

  it('paused jobs stay running; forgetJobs makes their ids unknown', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 1 });
    const { agentJobId } = await gw.startBackup(HOST, req('full'));
    await new Promise((r) => setTimeout(r, 10));
    gw.pause();
    const s = await gw.jobStatus(HOST, agentJobId);
    await new Promise((r) => setTimeout(r, 20));
    expect((await gw.jobStatus(HOST, agentJobId)).progress).toEqual(s.progress);
    gw.forgetJobs(HOST);
    await expect(gw.jobStatus(HOST, agentJobId)).rejects.toMatchObject({ code: 'unknown_job' });
    expect(gw.activeJobs()).toBe(0);
  });

  it('repository verbs answer from the same points: a corrupted image fails verification, an upload hands its bytes over', async () => {
    const uploaded: { url: string; bytes: number; magic: string }[] = [];
    const gw = new MemoryAgentGateway({
      tickMs: 1, diskSize: 4 << 20,
      upload: async (dest, image) => {
        const b = new Uint8Array(await new Response(image.stream).arrayBuffer());
        uploaded.push({ url: dest.url, bytes: b.byteLength, magic: Buffer.from(b.subarray(0, 4)).toString('hex') });
      },
    });
    const m = PointManifest.parse((await finish(gw, (await gw.startBackup(HOST, req('full'))).agentJobId)).result?.manifest);
    const base = { repository: req('full').repository, vmId: req('full').vmId };
    gw.corrupt(base.vmId, m.id, 'vda');
    const v = await finish(gw, (await gw.startVerify(HOST, { ...base, requestId: 'v1' })).agentJobId);
    expect(v.verify?.ok).toBe(false);
    expect(v.verify?.points[0].disks[0].problems[0]).toMatch(/does not match its digest/);
    const up = await finish(gw, (await gw.startRestore(HOST, { ...base, requestId: 'r1', disk: 'vda', destination: { kind: 'upload', url: 'http://ssvm.test/upload/1?x=1' } })).agentJobId);
    expect(up.restore).toMatchObject({ destination: 'upload', to: 'http://ssvm.test/upload/1', contentSha256: m.disks[0].content_sha256 });
    expect(uploaded).toEqual([{ url: 'http://ssvm.test/upload/1?x=1', bytes: m.disks[0].file_size, magic: '514649fb' }]);
    const missing = await finish(gw, (await gw.startRestore(HOST, { ...base, requestId: 'r2', disk: 'vdz', destination: { kind: 'file', path: '/tmp/x' } })).agentJobId);
    expect(missing).toMatchObject({ state: 'failed', error: { code: 'not-found' } });
  });

  it('a dropped link fails the event stream with unreachable', async () => {
    const gw = new MemoryAgentGateway({ tickMs: 5 });
    const { agentJobId } = await gw.startBackup(HOST, req('full'));
    const it = gw.events(HOST, agentJobId)[Symbol.asyncIterator]();
    await it.next();
    gw.setReachable(HOST, false);
    await expect(it.next()).rejects.toMatchObject({ code: 'unreachable' });
    gw.setReachable(HOST, true);
    expect((await finish(gw, agentJobId)).state).toBe('succeeded');
  });
});
