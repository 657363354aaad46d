/**
 * The health monitor and placement through the whole control plane, on the in-memory agent and
 * CloudStack simulator with two KVM hosts (kvm1, kvm2; one cluster, an NFS pool): the rows the
 * monitor writes, its events (audit, log, counter), /metrics and GET /api/v1/agents; a running
 * VM whose agent is lost fails "host unavailable" and is caught up when the agent is back; a
 * stopped VM on shared storage goes to the least busy healthy agent and fails over; a migrated
 * VM's next backup runs on its new host. (The same with real agent daemons and libvirt:
 * test/e2e/failover.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { HostStateSchema } from '../../cloudstack-sim/state.ts';
import { disksOf, makeFixture, testWorld, type Fixture } from '../../testing/fixture.ts';
import { checkAgents } from '../heartbeat.ts';
import { delegateGateway } from '../delegate.ts';
import { MemoryAgentGateway } from '../memory.ts';

const GiB = 2 ** 30;
let f: Fixture | undefined;
afterEach(async () => { await f?.close(); f = undefined; });

/** a fixture with two hosts, the memory agent wrapped so that each host's health answer can be shaped */
async function twoHosts() {
  const state = testWorld();
  const kvm1 = state.hosts[0];
  const kvm2 = HostStateSchema.parse({ id: randomUUID(), name: 'kvm2', ip: '127.0.0.2', zoneId: kvm1.zoneId, podId: kvm1.podId, clusterId: kvm1.clusterId });
  state.hosts.push(kvm2);
  const extra = new Map<string, { version?: string; capabilities?: Record<string, unknown> }>();
  const logs: string[] = [];
  let sim: Fixture['sim'] | undefined;
  const memory = new MemoryAgentGateway({ tickMs: 5, disksOf: (req) => disksOf(sim!)(req) });
  const gateway = delegateGateway(memory, {
    health: async (hostId, o) => {
      const h = await memory.health(hostId, o);
      const x = extra.get(hostId);
      return { ...h, version: x?.version ?? '0.2.0', capabilities: { ...h.capabilities, ok: true, problems: [], jobs: { running: 0, queued: 0, concurrency: 2 }, workDir: { path: '/var/lib/sendense-agent/jobs', freeBytes: 40 * GiB, totalBytes: 100 * GiB }, ...x?.capabilities } };
    },
  });
  f = await makeFixture({ state, gateway, options: { version: '0.2.0', log: (m) => logs.push(m) } });
  sim = f.sim;
  return { f, memory, kvm1, kvm2, extra, logs };
}

const metric = (text: string, name: string, labels: Record<string, string>) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('agent health monitor', () => {
  it('records each agent, raises version drift / full work dir / lost once, shows them in /metrics and the agents listing', async () => {
    const { f, memory, kvm1, kvm2, extra, logs } = await twoHosts();
    extra.set(kvm1.id, { version: '0.1.0' });
    extra.set(kvm2.id, { capabilities: { workDir: { path: '/var/lib/sendense-agent/jobs', freeBytes: 0.25 * GiB, totalBytes: 100 * GiB }, jobs: { running: 1, queued: 3, concurrency: 2 } } });

    const r = await f.cp.heartbeat();
    expect(r).toMatchObject({ active: 2, inactive: 0, error: 0 });
    expect(r.events.map((e) => `${e.hostId === kvm1.id ? 'kvm1' : 'kvm2'} ${e.kind}`).sort()).toEqual(['kvm1 up', 'kvm1 version_drift', 'kvm2 up', 'kvm2 work_dir_full']);
    const a1 = (await f.store.agents.getByHost(kvm1.id))!;
    expect(a1).toMatchObject({ status: 'active', agentVersion: '0.1.0', statusMessage: "version 0.1.0 is not the control plane's 0.2.0" });
    expect(a1.lastHeartbeatAt).toBeInstanceOf(Date);
    expect((await f.store.audit.list({ action: 'agent.version_drift' })).map((e) => e.targetId)).toEqual([kvm1.id]);
    expect((await f.store.audit.list({ action: 'agent.work_dir_full' })).map((e) => e.targetId)).toEqual([kvm2.id]);
    expect(logs.some((l) => l === '[agents] agent on kvm1 runs version 0.1.0, the control plane 0.2.0: upgrade it (sendense agents upgrade)')).toBe(true);

    // a second round raises nothing new
    expect((await f.cp.heartbeat()).events).toEqual([]);

    memory.setReachable(kvm1.id, false);
    const lost = await f.cp.heartbeat();
    expect(lost).toMatchObject({ active: 1, inactive: 1 });
    expect(lost.events.map((e) => e.kind)).toEqual(['lost']);
    expect((await f.store.audit.list({ action: 'agent.lost' }))[0]).toMatchObject({ targetId: kvm1.id, outcome: 'error' });
    expect((await f.store.agents.getByHost(kvm1.id))!).toMatchObject({ status: 'inactive', statusMessage: expect.stringMatching(/no link to the agent/) });

    const text = await (await f.req('GET', '/metrics')).text();
    expect(metric(text, 'sendense_agent_up', { host: kvm1.id })).toBe(0);
    expect(metric(text, 'sendense_agent_up', { host: kvm2.id })).toBe(1);
    expect(metric(text, 'sendense_agent_status', { host: kvm1.id, status: 'inactive' })).toBe(1);
    expect(metric(text, 'sendense_agent_version_drift', { host: kvm1.id, version: '0.1.0' })).toBe(1);
    expect(metric(text, 'sendense_agent_work_dir_full', { host: kvm2.id })).toBe(1);
    expect(metric(text, 'sendense_agent_work_dir_free_bytes', { host: kvm2.id })).toBe(0.25 * GiB);
    expect(metric(text, 'sendense_agent_jobs_queued', { host: kvm2.id })).toBe(3);
    expect(metric(text, 'sendense_agent_events_total', { event: 'lost' })).toBe(1);
    expect(metric(text, 'sendense_agent_events_total', { event: 'up' })).toBe(2);
    expect(metric(text, 'sendense_agent_last_heartbeat_timestamp_seconds', { host: kvm1.id })).toBe((await f.store.agents.getByHost(kvm1.id))!.lastHeartbeatAt!.getTime() / 1000);

    const token = await f.login('admin', '/');
    const list = (await (await f.req('GET', '/api/v1/agents', { token })).json()) as { items: { hostId: string; status: string; statusMessage: string | null; health: { versionDrift: string | null; workDir: { full: boolean } | null } }[] };
    const one = list.items.find((x) => x.hostId === kvm1.id)!;
    const two = list.items.find((x) => x.hostId === kvm2.id)!;
    expect(one).toMatchObject({ status: 'inactive', health: { versionDrift: '0.1.0' } });
    expect(two).toMatchObject({ status: 'active', health: { versionDrift: null, workDir: { full: true } }, statusMessage: 'work dir nearly full: 0.3 GiB free of 100.0 GiB' });
  });

  it('runs on its own under the round lease round:heartbeat: not while another instance holds it, then within a round', async () => {
    const { f } = await twoHosts();
    expect(await f.store.leases.acquire('round:heartbeat', 'another-instance', 60_000, new Date())).toBe(true);
    await f.cp.start({ heartbeatSeconds: 1, discoveryIntervalSeconds: 0, schedulerTickSeconds: 0, discoverNow: false });
    await new Promise((r) => setTimeout(r, 2500));
    expect((await f.store.agents.list()).map((a) => a.lastHeartbeatAt)).toEqual([null, null]);
    await f.store.leases.release('round:heartbeat', 'another-instance');
    const t0 = Date.now();
    while (Date.now() - t0 < 10_000 && !(await f.store.agents.list()).every((a) => a.status === 'active')) await new Promise((r) => setTimeout(r, 100));
    expect((await f.store.agents.list()).map((a) => a.status)).toEqual(['active', 'active']);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((await f.store.leases.get('round:heartbeat'))?.holder).not.toBe('another-instance');
  });
});

describe('placement through the runner', () => {
  it('a running VM whose agent is lost fails "host unavailable: <host> agent inactive since <time>"; the agent back, its backup is caught up', async () => {
    const { f, memory, kvm1 } = await twoHosts();
    await f.cp.heartbeat();
    const seen = (await f.store.agents.getByHost(kvm1.id))!.lastHeartbeatAt!;
    memory.setReachable(kvm1.id, false);
    await f.cp.heartbeat();
    const web = f.vmId('web-1');
    const job = await f.cp.runner.enqueue({ vmId: web, trigger: 'manual' });
    const failed = await f.cp.runner.settled(job.id);
    expect(failed).toMatchObject({ status: 'failed', errorCode: 'host_unavailable' });
    expect(failed.error).toMatch(new RegExp(`^host unavailable: kvm1 agent inactive since ${seen.toISOString().replace(/\./g, '\\.')}: .*no link to the agent`));
    expect(failed.error).toMatch(/VM web-1 runs there and only that host can read it/);

    memory.setReachable(kvm1.id, true);
    const back = await f.cp.heartbeat();
    expect(back.events.map((e) => e.kind)).toEqual(['recovered']);
    expect(back.caughtUp).toEqual([web]);
    const [again] = await f.store.jobs.list({ vmId: web, limit: 1 });
    expect(again.id).not.toBe(job.id);
    expect(await f.cp.runner.settled(again.id)).toMatchObject({ status: 'succeeded', kvmHostId: kvm1.id });
    // nothing left to catch up
    memory.setReachable(kvm1.id, false); await f.cp.heartbeat(); memory.setReachable(kvm1.id, true);
    expect((await f.cp.heartbeat()).caughtUp).toEqual([]);
  });

  it('a stopped VM on NFS goes to the least busy agent and fails over when that one is lost; none left: host unavailable naming each', async () => {
    const { f, memory, kvm1, kvm2, extra } = await twoHosts();
    const db = f.vmId('db-1');
    expect(f.sim.state.vms.find((v) => v.id === db)!.state).toBe('Stopped');
    extra.set(kvm1.id, { capabilities: { jobs: { running: 2, queued: 3, concurrency: 2 } } });
    await f.cp.heartbeat();
    const first = await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: db, trigger: 'manual' })).id);
    expect(first).toMatchObject({ status: 'succeeded', kvmHostId: kvm2.id });

    memory.setReachable(kvm2.id, false);
    await f.cp.heartbeat();
    const second = await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: db, trigger: 'manual' })).id);
    expect(second).toMatchObject({ status: 'succeeded', kvmHostId: kvm1.id });

    memory.setReachable(kvm1.id, false);
    await f.cp.heartbeat();
    const third = await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: db, trigger: 'manual' })).id);
    expect(third).toMatchObject({ status: 'failed', errorCode: 'host_unavailable' });
    expect(third.error).toMatch(/^host unavailable: no healthy agent reaches the storage of stopped VM db-1: kvm1 agent inactive since .*; kvm2 agent inactive since /);
  });

  it('an agent lost mid-job: after the grace period its stopped VM\'s in-flight backup fails over to the other agent (a full); the old one records nothing', async () => {
    const { f, memory, kvm1, kvm2 } = await twoHosts();
    const db = f.vmId('db-1');
    await f.cp.heartbeat();
    expect(await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: db, trigger: 'manual' })).id)).toMatchObject({ status: 'succeeded', kvmHostId: kvm1.id });
    memory.pause();
    const inFlight = await f.cp.runner.enqueue({ vmId: db, trigger: 'manual' });
    const t0 = Date.now();
    while ((await f.store.jobs.get(inFlight.id))!.status !== 'running' && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(await f.store.jobs.get(inFlight.id)).toMatchObject({ status: 'running', kvmHostId: kvm1.id });
    memory.setReachable(kvm1.id, false);
    const round = (failoverAfterMs: number) => checkAgents({ store: f.store, gateway: f.gateway, runner: f.cp.runner, version: '0.2.0', failoverAfterMs });
    // within the grace period: nothing moves (a link that dropped for a moment keeps its job)
    expect((await round(60_000)).failedOver).toEqual([]);
    expect((await f.store.jobs.get(inFlight.id))!.status).toBe('running');
    const r = await round(0);
    expect(r.failedOver).toEqual([db]);
    const old = (await f.store.jobs.get(inFlight.id))!;
    expect(old).toMatchObject({ status: 'failed', errorCode: 'agent_lost' });
    expect(old.error).toMatch(/^the agent on kvm1 was lost while it had this backup \(last heartbeat .*\): queued again for another agent; no restore point was recorded$/);
    memory.resume();
    const [next] = await f.store.jobs.list({ vmId: db, limit: 1 });
    expect(next.id).not.toBe(inFlight.id);
    const done = await f.cp.runner.settled(next.id);
    expect(done).toMatchObject({ status: 'succeeded', kvmHostId: kvm2.id, type: 'full' });
    expect(done.typeReason).toMatch(/agent_lost/);
    // the lost agent comes back and finishes its copy: the control plane records no point for the failed job
    memory.setReachable(kvm1.id, true);
    await new Promise((r) => setTimeout(r, 500));
    await f.cp.runner.idle();
    expect((await f.store.jobs.get(inFlight.id))!).toMatchObject({ status: 'failed', errorCode: 'agent_lost' });
    expect((await f.store.points.listForVm(db)).map((p) => p.jobId)).not.toContain(inFlight.id);
  });

  it('a migrated VM (CloudStack moved its hostid) is backed up by its new host\'s agent; discovery records the move', async () => {
    const { f, kvm1, kvm2 } = await twoHosts();
    await f.cp.heartbeat();
    const web = f.vmId('web-1');
    expect(await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: web, trigger: 'manual' })).id)).toMatchObject({ status: 'succeeded', kvmHostId: kvm1.id });
    f.sim.state.vms.find((v) => v.id === web)!.hostId = kvm2.id;
    const report = await f.cp.discovery.refresh();
    expect(report.changes).toContainEqual({ id: web, name: 'web-1', kind: 'migrated', from: kvm1.id, to: kvm2.id });
    expect((await f.store.audit.list({ action: 'vm.migrated' }))[0]).toMatchObject({ targetId: web });
    expect(await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: web, trigger: 'manual' })).id)).toMatchObject({ status: 'succeeded', kvmHostId: kvm2.id });
  });
});
