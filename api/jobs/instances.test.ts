/**
 * Two control-plane instances on one PostgreSQL 15 (test/lab/postgres.ts), one agent (the
 * in-memory one, shared like a real host's daemon): a schedule time ticked by both at once
 * queues each VM's backup once; instance A killed while its jobs run (its database connections
 * gone, its leases left to expire), instance B re-attaches to the same agent jobs — not started
 * again — within the lease time plus one renewal, and records every point exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgStore } from '../../db/pg/open.ts';
import type { Store } from '../../db/store.ts';
import { pgLab } from '../../db/testing/stores.ts';
import { delegateGateway } from '../agents/delegate.ts';
import { MemoryAgentGateway } from '../agents/memory.ts';
import { CloudStackClient } from '../cloudstack/client.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { Discovery } from '../discovery/discover.ts';
import { schedulerTick } from '../schedule/scheduler.ts';
import { disksOf, ENDPOINT, REPO_URL, testWorld } from '../testing/fixture.ts';
import { JobRunner } from './runner.ts';

describe('several instances on one PostgreSQL', () => {
  let lab: Awaited<ReturnType<typeof pgLab>>;
  beforeAll(async () => { lab = await pgLab(); });
  afterAll(() => lab?.cluster.destroy());

  async function world() {
    const sim = createSimulator({ state: testWorld(), asyncDelayMs: 1 });
    const cs = new CloudStackClient({ endpoint: ENDPOINT, credentials: sim.adminKeys, fetch: sim.fetch });
    const url = await lab.database();
    const a = await openPgStore(url, { max: 4 });
    const b = await openPgStore(url, { max: 4 });
    await a.repositories.sync([{ name: 'repo1', url: REPO_URL, kind: 'ssh', isDefault: true }]);
    await new Discovery({ cs, store: a }).refresh();
    return { sim, cs, a, b };
  }
  const runner = (store: Store, gateway: MemoryAgentGateway | ReturnType<typeof delegateGateway>, cs: CloudStackClient, id: string) =>
    new JobRunner({ store, gateway, cs, pollMs: 20, progressWriteMs: 0, instanceId: id, jobLeaseMs: 1500, log: () => {} });

  it('a schedule time ticked by both instances at once queues each VM once', async () => {
    const { sim, cs, a, b } = await world();
    const mem = new MemoryAgentGateway({ tickMs: 5, disksOf: disksOf(sim) });
    const [ra, rb] = [runner(a, mem, cs, 'A'), runner(b, mem, cs, 'B')];
    const t0 = new Date(Date.now() - 3_600_000);
    await a.policies.create({ id: 'p1', name: 'hourly', schedule: '0 * * * *', fullEvery: 7, maxChainLength: 30, retention: {}, createdAt: t0, updatedAt: t0 });
    await a.policies.assign({ policyId: 'p1', kind: 'zone', target: sim.state.zones[0].id });
    const vms = (await a.vms.all()).filter((v) => !v.removedAt).length;
    const [x, y] = await Promise.all([schedulerTick({ store: a, runner: ra }), schedulerTick({ store: b, runner: rb })]);
    const queued = [...x.policies, ...y.policies].flatMap((p) => p.queued);
    expect(queued).toHaveLength(vms);
    expect(await a.jobs.count()).toBe(vms);
    await Promise.all([ra.idle(), rb.idle()]);
    await ra.stop(); await rb.stop(); await a.close(); await b.close();
  });

  it('an instance killed mid-job: the other re-attaches to the running agent jobs and records each point once', async () => {
    const { sim, cs, a, b } = await world();
    const mem = new MemoryAgentGateway({ tickMs: 40, ticks: 40, disksOf: disksOf(sim) });
    let started = 0;
    const counted = delegateGateway(mem, { startBackup: (h, r, o) => { started++; return mem.startBackup(h, r, o); } });
    const ra = runner(a, counted, cs, 'A');
    const rb = runner(b, counted, cs, 'B');
    await ra.recover();
    await rb.recover();
    const vmIds = (await a.vms.all()).filter((v) => !v.removedAt).slice(0, 3).map((v) => v.id);
    const jobs = [];
    for (const vmId of vmIds) jobs.push(await ra.enqueue({ vmId, trigger: 'manual' }));
    await expect.poll(async () => (await a.jobs.list({ status: ['running'] })).filter((j) => j.agentJobId).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const before = new Map((await b.jobs.list()).map((j) => [j.id, j.agentJobId]));
    // the kill: A's connections end (nothing more reaches the database, its leases stay until they expire)
    const killedAt = Date.now();
    await a.close();
    await ra.stop();
    const ends = await Promise.all(jobs.map((j) => rb.settled(j.id)));
    const tookOver = Date.now() - killedAt;
    expect(ends.map((j) => j.status)).toEqual(jobs.map(() => 'succeeded'));
    for (const j of ends) if (before.get(j.id)) expect(j.agentJobId).toBe(before.get(j.id)); // re-attached, not restarted
    expect(started).toBe(jobs.length);
    expect(await b.points.total()).toMatchObject({ points: jobs.length });
    expect(await b.jobs.count({ status: ['queued', 'dispatching', 'running', 'cancelling'] })).toBe(0);
    // lease 1.5 s + renewal every 0.5 s + the rest of the agent jobs (≤ 1.6 s each)
    expect(tookOver).toBeLessThan(15_000);
    process.stdout.write(`take-over: all ${jobs.length} jobs finished ${tookOver} ms after the kill\n`);
    await rb.stop(); await b.close();
  });
});
