/**
 * What a tenant (anyone but a root admin) reads: no host names or ids, libvirt instance names,
 * volume paths, pool ids or agent job ids in any answer; an agent's or CloudStack's own error
 * text only as its code and a sentence; /healthz only ok/degraded. Root admins see it all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryAgentGateway } from '../agents/memory.ts';
import { makeFixture, type Fixture } from '../testing/fixture.ts';

describe('the tenant view', () => {
  let f: Fixture;
  let mem: MemoryAgentGateway;
  let admin: string;
  let alice: string;
  let web: string;
  let hostId: string;
  beforeAll(async () => {
    f = await makeFixture();
    mem = f.memory!;
    admin = await f.login('admin');
    alice = await f.login('alice', '/customers/');
    web = f.vmId('web-1');
    hostId = f.sim.state.hosts[0].id;
  });
  afterAll(async () => { await f.close(); });

  const get = async (path: string, token: string) => {
    const r = await f.req('GET', path, { token });
    expect(r.status, path).toBe(200);
    return (await r.json()) as Record<string, unknown>;
  };
  /** every infrastructure detail a tenant must not read, as it is stored */
  const secrets = async () => {
    const vm = (await f.store.vms.get(web))!;
    const disks = await f.store.vms.disks(web);
    const host = f.sim.state.hosts[0];
    return [vm.instanceName!, vm.hostName!, host.id, host.ip!, ...disks.flatMap((d) => [d.path!, d.poolId!])].filter(Boolean);
  };

  it('VMs and their disks: no host, instance name, volume path or pool id for a tenant; all of them for root', async () => {
    const hidden = await secrets();
    expect(hidden.length).toBeGreaterThanOrEqual(5);
    for (const path of [`/api/v1/vms/${web}`, '/api/v1/vms']) {
      const text = JSON.stringify(await get(path, alice));
      for (const s of hidden) expect(text, `${path} shows ${s}`).not.toContain(s);
    }
    const mine = await get(`/api/v1/vms/${web}`, alice);
    expect(Object.keys(mine)).not.toEqual(expect.arrayContaining(['hostId']));
    expect(mine).not.toHaveProperty('instanceName');
    expect((mine.disks as Record<string, unknown>[])[0]).not.toHaveProperty('path');
    const root = await get(`/api/v1/vms/${web}`, admin);
    expect(root).toMatchObject({ instanceName: expect.stringMatching(/^i-/), hostName: 'kvm1', hostId });
    expect((root.disks as Record<string, unknown>[])[0]).toMatchObject({ path: expect.stringMatching(/^\/mnt\//), poolId: expect.any(String) });
  });

  it('jobs: no host or agent job id, and the agent\'s error text only for root', async () => {
    mem.setReachable(hostId, false);
    let jobId: string;
    try {
      const started = await f.req('POST', `/api/v1/vms/${web}/backups`, { token: alice, body: { mode: 'full' } });
      expect(started.status).toBe(202);
      jobId = ((await started.json()) as { id: string }).id;
      const end = await f.cp.runner.settled(jobId);
      expect(end.error).toMatch(/kvm1 \(127\.0\.0\.1\)/);
    } finally { mem.setReachable(hostId, true); }
    const hidden = await secrets();
    for (const path of [`/api/v1/jobs/${jobId}`, '/api/v1/jobs']) {
      const text = JSON.stringify(await get(path, alice));
      for (const s of [...hidden, 'kvm1', '127.0.0.1']) expect(text, `${path} shows ${s}`).not.toContain(s);
    }
    const mine = await get(`/api/v1/jobs/${jobId}`, alice);
    expect(mine.error).toEqual({ code: 'agent_unreachable', message: 'failed (agent_unreachable): an administrator can see the details' });
    expect(mine).not.toHaveProperty('hostId');
    expect(mine).not.toHaveProperty('agentJobId');
    const root = await get(`/api/v1/jobs/${jobId}`, admin);
    expect(root).toMatchObject({ hostId, error: { code: 'agent_unreachable', message: expect.stringMatching(/kvm1 \(127\.0\.0\.1\)/) } });
  });

  it('an agent error answered at once (a download with the agent away): its text for root only', async () => {
    const job = await f.cp.runner.enqueue({ vmId: web, trigger: 'manual', requestedBy: 'test' });
    expect((await f.cp.runner.settled(job.id)).status).toBe('succeeded');
    const [point] = await f.store.points.listForVm(web, { limit: 1, offset: 0 });
    mem.setReachable(hostId, false);
    try {
      const tenant = await f.req('GET', `/api/v1/restore-points/${point.id}/download`, { token: alice });
      expect(tenant.status).toBe(502);
      const te = ((await tenant.json()) as { error: { code: string; message: string } }).error;
      expect(te.code).toBe('agent_unreachable');
      expect(te.message).not.toContain(hostId);
      expect(te.message).toMatch(/an administrator can see the details/);
      const root = await f.req('GET', `/api/v1/restore-points/${point.id}/download`, { token: admin });
      expect(root.status).toBe(502);
      expect(((await root.json()) as { error: { message: string } }).error.message).toContain(hostId);
    } finally { mem.setReachable(hostId, true); }
  });

  it('/healthz says ok or degraded and nothing more; the reasons are for root admins', async () => {
    const h = await f.req('GET', '/healthz');
    expect(await h.json()).toEqual({ status: 'ok', instance: f.cp.instanceId });
    expect((await f.req('GET', '/api/v1/health', { token: alice })).status).toBe(403);
    expect(await get('/api/v1/health', admin)).toMatchObject({ status: 'ok', database: 'ok', version: expect.any(String) });
  });
});
