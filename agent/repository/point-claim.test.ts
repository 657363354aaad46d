/**
 * Point ids that cannot collide (issue 12 items 1 and 18), on the memory target: the next id
 * follows every taken one whatever the clock says, concurrent claims of one id get different ids,
 * a committed id is never claimed again, and clean-up removes only a dead owner's leftovers.
 */
import { describe, expect, it } from 'vitest';
import { MemoryTarget } from '../target/memory.ts';
import { claimPath, nextPointId, pointIdAfter } from './layout.ts';
import { claimPointId, readClaim, releaseClaim } from './point-claim.ts';
import { Repository } from './repository.ts';

const VM = '5a1f0c2e-0000-4000-8000-0000000000c1';
const at = (iso: string) => new Date(iso);

describe('nextPointId', () => {
  it('is the time of the run when nothing later is taken', () => {
    expect(nextPointId(at('2026-12-01T10:00:00.700Z'), ['20261130-090000'])).toBe('20261201-100000');
  });
  it('two runs in the same second: the second takes the next second', () => {
    expect(nextPointId(at('2026-12-01T10:00:00.100Z'), ['20261201-100000'])).toBe('20261201-100001');
  });
  it("a host whose clock is behind continues after the newest point, not before it (the order is the points', not the clocks')", () => {
    expect(nextPointId(at('2026-12-01T09:00:00Z'), ['20261201-095959', '20261201-100000'])).toBe('20261201-100001');
    expect(pointIdAfter('20261231-235959')).toBe('20270101-000000');
  });
});

describe('claimPointId', () => {
  it('many runs claiming the same id at once each get a different one', async () => {
    const t = new MemoryTarget();
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => claimPointId(t, VM, '20261201-100000', { job: `j${i}`, lease: `backup-j${i}`, host: `h${i % 2}` })));
    expect(new Set(ids).size).toBe(8);
    expect([...ids].sort()[0]).toBe('20261201-100000');
    for (const [i, id] of ids.entries()) expect(await readClaim(t, VM, id)).toMatchObject({ job: `j${i}`, point: id, host: `h${i % 2}` });
  });

  it('an id whose point is committed is not claimed again, even after its claim is gone', async () => {
    const t = new MemoryTarget();
    const id = await claimPointId(t, VM, '20261201-100000', { job: 'a', lease: 'backup-a', host: 'h' });
    await t.writeFileAtomic(`${VM}/points/${id}.json`, '{}');
    await releaseClaim(t, VM, id);
    expect(await claimPointId(t, VM, id, { job: 'b', lease: 'backup-b', host: 'h' })).toBe('20261201-100001');
  });
});

describe('Repository.cleanupLeftovers and claims', () => {
  async function leftovers(t: MemoryTarget, job: string, id: string): Promise<void> {
    await claimPointId(t, VM, id, { job, lease: `backup-${job}`, host: 'h', pid: 4242 });
    await t.mkdirp(`${VM}/disk-0`);
    await t.writeFileAtomic(`${VM}/disk-0/.partial-${job}-full-${id}.qcow2`, 'partial');
    await t.writeFileAtomic(`${VM}/disk-0/full-${id}.sums`, 'published, not committed');
  }

  it("keeps the files of a claim whose owner lives (a run whose lease was taken over while it was stopped), removes a dead owner's", async () => {
    const t = new MemoryTarget();
    await leftovers(t, 'alive', '20261201-100000');
    await leftovers(t, 'dead', '20261201-100005');
    const repo = new Repository(t);
    const removed = await repo.cleanupLeftovers(VM, { pointIds: [], ownerAlive: (c) => c.job === 'alive' });
    expect(removed.sort()).toEqual([
      `${VM}/disk-0/.partial-dead-full-20261201-100005.qcow2`, `${VM}/disk-0/full-20261201-100005.sums`, claimPath(VM, '20261201-100005'),
    ].sort());
    expect((await t.list(`${VM}/disk-0`)).map((e) => e.name).sort()).toEqual(['.partial-alive-full-20261201-100000.qcow2', 'full-20261201-100000.sums']);
    expect(await readClaim(t, VM, '20261201-100000')).toMatchObject({ job: 'alive' });
    // once that owner is gone too, the next clean-up removes its files
    await repo.cleanupLeftovers(VM, { pointIds: [] });
    expect(await t.list(`${VM}/disk-0`)).toEqual([]);
    expect((await t.list(`${VM}/points`)).map((e) => e.name)).toEqual([]);
  });

  it("a committed point's claim left behind (its removal failed) is removed, the point's files kept", async () => {
    const t = new MemoryTarget();
    await leftovers(t, 'done', '20261201-100000');
    await t.writeFileAtomic(`${VM}/points/20261201-100000.json`, '{}');
    const removed = await new Repository(t).cleanupLeftovers(VM, { pointIds: ['20261201-100000'], ownerAlive: () => true });
    expect(removed.sort()).toEqual([`${VM}/disk-0/.partial-done-full-20261201-100000.qcow2`, claimPath(VM, '20261201-100000')].sort());
    expect(await t.stat(`${VM}/disk-0/full-20261201-100000.sums`)).toBeDefined();
  });
});
