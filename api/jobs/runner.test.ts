/**
 * The job runner with the in-memory agent on a real SQLite file: the per-host limit and queue,
 * the control plane killed mid-job and re-created from the same database file (the job found
 * again through its agent job id, or failed cleanly), and agent results that must not become
 * restore points.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { delegateGateway } from '../agents/delegate.ts';
import { MemoryAgentGateway } from '../agents/memory.ts';
import type { AgentBackupRequest, AgentGateway, AgentJobEvent, AgentJobStatus, GatewayCallOptions } from '../agents/port.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { disksOf, makeFixture, testWorld, type Fixture } from '../testing/fixture.ts';

let f: Fixture | undefined;
afterEach(async () => { await f?.close(); f = undefined; });

function memoryFor(world: ReturnType<typeof testWorld>, opts: ConstructorParameters<typeof MemoryAgentGateway>[0] = {}) {
  return new MemoryAgentGateway({ tickMs: 5, disksOf: disksOf(createSimulator({ state: structuredClone(world) })), ...opts });
}

/** A gateway that changes what the agent reports at the end of a job. */
class Doctored implements AgentGateway {
  constructor(private readonly inner: AgentGateway, private readonly doctor: (s: AgentJobStatus) => AgentJobStatus) {}
  startBackup(h: string, r: AgentBackupRequest, o?: GatewayCallOptions) { return this.inner.startBackup(h, r, o); }
  async jobStatus(h: string, id: string, o?: GatewayCallOptions) { return this.fix(await this.inner.jobStatus(h, id, o)); }
  async *events(h: string, id: string, o?: GatewayCallOptions): AsyncIterable<AgentJobEvent> {
    for await (const ev of this.inner.events(h, id, o)) yield ev.type === 'state' ? { type: 'state', status: this.fix(ev.status) } : ev;
  }
  cancel(h: string, id: string, o?: GatewayCallOptions) { return this.inner.cancel(h, id, o); }
  health(h: string, o?: GatewayCallOptions) { return this.inner.health(h, o); }
  startRestore: AgentGateway['startRestore'] = (h, r, o) => this.inner.startRestore(h, r, o);
  startVerify: AgentGateway['startVerify'] = (h, r, o) => this.inner.startVerify(h, r, o);
  startPrune: AgentGateway['startPrune'] = (h, r, o) => this.inner.startPrune(h, r, o);
  scan: AgentGateway['scan'] = (h, r, o) => this.inner.scan(h, r, o);
  exportImage: AgentGateway['exportImage'] = (h, r, o) => this.inner.exportImage(h, r, o);
  private fix(s: AgentJobStatus) { return s.state === 'succeeded' ? this.doctor(structuredClone(s)) : s; }
}

const running = (fx: Fixture, id: string) => expect.poll(async () => {
  const j = await fx.store.jobs.get(id);
  return j?.status === 'running' && j.agentJobId ? 'running with agent job id' : j?.status;
}, { timeout: 5000 }).toBe('running with agent job id');

describe('JobRunner', () => {
  it('never runs more than perHostConcurrency jobs on a host; the rest wait in the queue and all complete', async () => {
    const world = testWorld();
    const mem = memoryFor(world, { ticks: 6 });
    f = await makeFixture({ state: world, gateway: mem, options: { perHostConcurrency: 2 } });
    const vms = ['web-1', 'db-1', 'infra-1', 'bob-1', 'carol-1'].map((n) => f!.vmId(n));
    const jobs = [];
    for (const vmId of vms) jobs.push(await f.cp.runner.enqueue({ vmId, trigger: 'manual' }));
    let peak = 0;
    const watch = setInterval(async () => {
      const active = (await f!.store.jobs.unfinished()).filter((j) => j.status !== 'queued').length;
      peak = Math.max(peak, active);
    }, 2);
    const ends = await Promise.all(jobs.map((j) => f!.cp.runner.settled(j.id)));
    clearInterval(watch);
    expect(ends.map((j) => j.status)).toEqual(vms.map(() => 'succeeded'));
    const host = f.sim.state.hosts[0].id;
    expect(mem.maxConcurrent(host)).toBe(2);
    expect(peak).toBeLessThanOrEqual(2);
    for (const vmId of vms) expect(await f.store.points.countForVm(vmId)).toBe(1);
  });

  it('killed mid-job and re-created from the same database file: the job is polled again and its point recorded once', async () => {
    const world = testWorld();
    const mem = memoryFor(world);
    f = await makeFixture({ state: world, gateway: mem });
    const vm = f.vmId('web-1');
    mem.pause();
    const job = await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' });
    await running(f, job.id);
    const agentJobId = (await f.store.jobs.get(job.id))!.agentJobId;
    await f.restart({ kill: true });
    // the new process knows the job only from the database
    expect((await f.store.jobs.get(job.id))).toMatchObject({ status: 'running', agentJobId });
    mem.resume();
    const end = await f.cp.runner.settled(job.id);
    expect(end.status).toBe('succeeded');
    const points = await f.store.points.listForVm(vm);
    expect(points).toHaveLength(1);
    expect(points[0].jobId).toBe(job.id);
    expect(mem.points('ssh://sendense-repo@127.0.0.1/srv/sendense', vm).map((p) => p.id)).toEqual([points[0].pointId]);
  });

  it('a job that finished while the control plane was down is recorded at the restart', async () => {
    const world = testWorld();
    const mem = memoryFor(world);
    f = await makeFixture({ state: world, gateway: mem });
    mem.pause();
    const job = await f.cp.runner.enqueue({ vmId: f.vmId('infra-1'), trigger: 'manual' });
    await running(f, job.id);
    await f.cp.stop();
    mem.resume();
    await expect.poll(() => mem.activeJobs(), { timeout: 5000 }).toBe(0);
    expect((await f.store.jobs.get(job.id))?.status).toBe('running');
    await f.restart({ kill: true });
    expect((await f.cp.runner.settled(job.id)).status).toBe('succeeded');
    expect(await f.store.points.countForVm(f.vmId('infra-1'))).toBe(1);
  });

  it('an agent that lost the job: failed cleanly, no point, and the next backup is a full', async () => {
    const world = testWorld();
    const mem = memoryFor(world);
    f = await makeFixture({ state: world, gateway: mem });
    const vm = f.vmId('web-1');
    const first = await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' });
    expect((await f.cp.runner.settled(first.id)).status).toBe('succeeded');
    mem.pause();
    const job = await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' });
    expect(job.type).toBe('incremental');
    await running(f, job.id);
    await f.cp.stop();
    mem.forgetJobs(f.sim.state.hosts[0].id);
    mem.resume();
    await f.restart({ kill: true });
    const end = await f.cp.runner.settled(job.id);
    expect(end).toMatchObject({ status: 'failed', errorCode: 'agent_lost_job' });
    expect(end.error).toMatch(/no longer knows job .*no restore point was recorded/);
    expect(await f.store.points.countForVm(vm)).toBe(1);
    const next = await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' });
    expect(next.type).toBe('full');
    expect(next.typeReason).toMatch(/cannot be trusted \(job .* ended with agent_lost_job\)/);
    expect((await f.cp.runner.settled(next.id)).status).toBe('succeeded');
  });

  it('killed while handing the job to the agent: failed as interrupted at the restart, never a point', async () => {
    const world = testWorld();
    const mem = memoryFor(world);
    let hold = true;
    const gate: AgentGateway = delegateGateway(mem, {
      startBackup: async (h, r, o) => {
        while (hold) {
          if (o?.signal?.aborted) throw o.signal.reason;
          await new Promise((res) => setTimeout(res, 5));
        }
        return mem.startBackup(h, r, o);
      },
    });
    f = await makeFixture({ state: world, gateway: gate });
    const job = await f.cp.runner.enqueue({ vmId: f.vmId('db-1'), trigger: 'manual' });
    await expect.poll(async () => (await f!.store.jobs.get(job.id))?.status, { timeout: 5000 }).toBe('dispatching');
    await f.restart({ kill: true });
    hold = false;
    const end = await f.cp.runner.settled(job.id);
    expect(end).toMatchObject({ status: 'failed', errorCode: 'interrupted' });
    expect(await f.store.points.countForVm(f.vmId('db-1'))).toBe(0);
  });

  it('cancelled while the control plane was down: the restart sends the cancel again', async () => {
    const world = testWorld();
    const mem = memoryFor(world);
    f = await makeFixture({ state: world, gateway: mem });
    mem.pause();
    const job = await f.cp.runner.enqueue({ vmId: f.vmId('web-1'), trigger: 'manual' });
    await running(f, job.id);
    await f.cp.stop();
    // the cancel reached the database, but not the agent (the process died right after)
    await f.store.jobs.update(job.id, { status: 'cancelling' }, ['running']);
    await f.restart({ kill: true });
    mem.resume();
    expect((await f.cp.runner.settled(job.id)).status).toBe('cancelled');
    expect(await f.store.points.countForVm(f.vmId('web-1'))).toBe(0);
  });

  it.each([
    ['a manifest that fails the schema', (s: AgentJobStatus) => ({ ...s, result: { ...s.result!, manifest: { ...s.result!.manifest, disks: [] } } }), 'bad_result', /disks/],
    ['no manifest at all', (s: AgentJobStatus) => ({ ...s, result: undefined }), 'bad_result', /without a valid point manifest/],
    ['a point of another VM', (s: AgentJobStatus) => ({ ...s, result: { ...s.result!, manifest: { ...s.result!.manifest, vm_uuid: 'f00dbabe-0000-4000-8000-000000000000' } } }), 'point_rejected', /is of VM f00dbabe/],
  ])('an agent result with %s fails the job; nothing is recorded', async (_name, doctor, code, msg) => {
    const world = testWorld();
    f = await makeFixture({ state: world, gateway: new Doctored(memoryFor(world), doctor) });
    const job = await f.cp.runner.enqueue({ vmId: f.vmId('web-1'), trigger: 'manual' });
    const end = await f.cp.runner.settled(job.id);
    expect(end.status).toBe('failed');
    expect(end.errorCode).toBe(code);
    expect(end.error).toMatch(msg);
    expect(await f.store.points.countForVm(f.vmId('web-1'))).toBe(0);
  });

  it('an incremental built on a point the database never recorded is rejected, and the next backup is a full', async () => {
    const world = testWorld();
    const mem = memoryFor(world);
    f = await makeFixture({ state: world, gateway: mem });
    const vm = f.vmId('web-1');
    expect((await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' })).id)).status).toBe('succeeded');
    // a point the agent wrote that the database does not know (e.g. a job failed as interrupted)
    const host = f.sim.state.hosts[0].id;
    const stray = await mem.startBackup(host, { requestId: 'stray', vmId: vm, domain: 'x', mode: 'auto', repository: 'ssh://sendense-repo@127.0.0.1/srv/sendense' });
    for await (const _ of mem.events(host, stray.agentJobId)) { /* until it ends */ }
    const job = await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' });
    const end = await f.cp.runner.settled(job.id);
    expect(end).toMatchObject({ status: 'failed', errorCode: 'point_rejected' });
    expect(end.error).toMatch(/but the recorded chain ends at/);
    const next = await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' });
    expect(next.type).toBe('full');
    expect((await f.cp.runner.settled(next.id)).status).toBe('succeeded');
    expect((await f.store.points.listForVm(vm)).map((p) => p.type)).toEqual(['full', 'full']);
  });

  it('a checkpoint the agent finds unusable: auto still succeeds as a recorded full, saying why', async () => {
    const world = testWorld();
    const mem = memoryFor(world);
    f = await makeFixture({ state: world, gateway: mem });
    const vm = f.vmId('web-1');
    await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' })).id);
    mem.invalidateCheckpoint(vm);
    const job = await f.cp.runner.enqueue({ vmId: vm, trigger: 'manual' });
    expect(job.type).toBe('incremental');
    expect((await f.cp.runner.settled(job.id)).status).toBe('succeeded');
    const [head] = await f.store.points.listForVm(vm);
    expect(head).toMatchObject({ type: 'full', parentId: null, jobId: job.id });
    expect(head.reason).toMatch(/inconsistent/);
  });
});
