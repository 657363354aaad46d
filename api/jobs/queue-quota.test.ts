/**
 * Quotas: at most one queued backup and one queued verification per VM. Asking again — through
 * the API, from the scheduler, or many times at once — returns the job already waiting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAgentGateway } from '../agents/memory.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { disksOf, makeFixture, testWorld, type Fixture } from '../testing/fixture.ts';

describe('one queued job per VM', () => {
  let f: Fixture;
  beforeAll(async () => {
    const sim = createSimulator({ state: testWorld() });
    // one job per host at a time, and a slow agent: the second backup of a VM stays queued
    f = await makeFixture({ state: sim.state, gateway: new MemoryAgentGateway({ tickMs: 5_000, disksOf: disksOf(sim) }), options: { perHostConcurrency: 1 } });
  });
  afterAll(async () => { await f.close(); });

  it('a second and third backup request while one is queued return the queued job', async () => {
    const alice = await f.login('alice', '/customers/');
    const web = f.vmId('web-1');
    const post = async () => {
      const r = await f.req('POST', `/api/v1/vms/${web}/backups`, { token: alice, body: { mode: 'full' } });
      expect(r.status).toBe(202);
      return ((await r.json()) as { id: string; status: string }).id;
    };
    const first = await post();
    await expect.poll(async () => (await f.store.jobs.get(first))!.status, { timeout: 10_000 }).not.toBe('queued');
    const second = await post();
    expect((await f.store.jobs.get(second))!.status).toBe('queued');
    expect(await post()).toBe(second);
    // many at once (API and scheduler alike): still the one
    const many = await Promise.all(Array.from({ length: 10 }, () => f.cp.runner.enqueue({ vmId: web, trigger: 'schedule', requestedBy: 'scheduler' })));
    expect(new Set(many.map((j) => j.id))).toEqual(new Set([second]));
    expect(await f.store.jobs.count({ vmId: web, status: ['queued'] })).toBe(1);
    // another VM is not held back
    const db = await f.cp.runner.enqueue({ vmId: f.vmId('db-1'), trigger: 'manual' });
    expect(db.id).not.toBe(second);
    for (const id of [first, second, db.id]) await f.cp.runner.cancel(id).catch(() => {});
  });

});

describe('one queued verification per VM', () => {
  let f: Fixture;
  beforeAll(async () => { f = await makeFixture(); });
  afterAll(async () => { await f.close(); });

  it('verifications asked while one is queued for the VM (five at once): the queued one is returned, none is added', async () => {
    const web = f.vmId('web-1');
    const done = await f.cp.runner.settled((await f.cp.runner.enqueue({ vmId: web, trigger: 'manual' })).id);
    expect(done.status).toBe('succeeded');
    const [point] = await f.store.points.listForVm(web, { limit: 1, offset: 0 });
    // a verification already waiting (queued by the scheduler, or left by a restart)
    const waiting = await f.store.maintenance.create({
      id: crypto.randomUUID(), kind: 'verify', trigger: 'schedule', status: 'queued', repositoryId: point.repositoryId, requestedBy: 'scheduler',
      queuedAt: new Date(), platformVmId: web, restorePointId: point.id, request: { pointId: point.pointId, restoreTest: false },
    });
    const jobs = await Promise.all(Array.from({ length: 5 }, () => f.cp.maintenance.verify(point.id, { trigger: 'manual', requestedBy: 'test' })));
    expect(new Set(jobs.map((j) => j.id))).toEqual(new Set([waiting.id]));
    expect(await f.store.maintenance.count({ vmId: web, kind: 'verify' })).toBe(1);
  });
});
