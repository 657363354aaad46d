import { describe, expect, it } from 'vitest';
import { copyPlan, intervals } from './copy-plan.ts';

const K = 1024, M = 1 << 20, C = 64 * K;

describe('copy plan', () => {
  it('merges intervals', () => {
    expect(intervals([{ offset: 10, length: 5, flags: 1 }, { offset: 0, length: 10, flags: 1 }, { offset: 20, length: 1, flags: 0 }], (f) => f === 1))
      .toEqual([{ start: 0, end: 15 }]);
  });
  it('full: reads blocks that are not all zero and skips holes', () => {
    const steps = [...copyPlan({
      virtualSize: 3 * M + 100, blockSize: M, clusterSize: C,
      allocation: [{ offset: 0, length: M, flags: 0 }, { offset: M, length: M + C, flags: 3 }, { offset: 2 * M + C, length: M - C + 100, flags: 0 }],
    })];
    expect(steps.map((s) => s.read)).toEqual([true, false, true, true]);
    expect(steps[3]).toMatchObject({ offset: 3 * M, length: 100, data: [{ start: 3 * M, end: 3 * M + 100 }] });
    expect(steps[1].data).toEqual([]);
  });
  it('incremental: dirty data clusters, dirty zero clusters, clean blocks untouched', () => {
    const steps = [...copyPlan({
      virtualSize: 4 * M, blockSize: M, clusterSize: C,
      allocation: [{ offset: 0, length: 2 * M, flags: 0 }, { offset: 2 * M, length: M, flags: 3 }, { offset: 3 * M, length: M, flags: 0 }],
      dirty: [{ offset: 0, length: C, flags: 1 }, { offset: 5 * C, length: 2 * C, flags: 1 }, { offset: 2 * M + C, length: C, flags: 1 }, { offset: M, length: M, flags: 0 }],
    })];
    expect(steps[0]).toMatchObject({ read: true, data: [{ start: 0, end: C }, { start: 5 * C, end: 7 * C }], zero: [] });
    expect(steps[1]).toMatchObject({ read: false, data: [], zero: [] });
    expect(steps[2]).toMatchObject({ read: false, data: [], zero: [{ start: 2 * M + C, end: 2 * M + 2 * C }] });
    // a zero write next to data: the block must still be read to hash it
    const [z] = [...copyPlan({ virtualSize: M, blockSize: M, clusterSize: C,
      allocation: [{ offset: 0, length: C, flags: 3 }, { offset: C, length: M - C, flags: 0 }],
      dirty: [{ offset: 0, length: C, flags: 1 }] })];
    expect(z).toMatchObject({ read: true, data: [], zero: [{ start: 0, end: C }] });
    expect(steps[3]).toMatchObject({ read: false, data: [], zero: [] });
  });
  it('incremental: a cluster only partly zero is data', () => {
    const [s] = [...copyPlan({
      virtualSize: M, blockSize: M, clusterSize: C,
      allocation: [{ offset: 0, length: C / 2, flags: 3 }, { offset: C / 2, length: M - C / 2, flags: 0 }],
      dirty: [{ offset: 0, length: C, flags: 1 }],
    })];
    expect(s).toMatchObject({ read: true, data: [{ start: 0, end: C }], zero: [] });
  });
  it('skipIdle: the same steps with work, no others, whatever the disk size (1 TiB: a few steps)', () => {
    const T = 2 ** 40;
    const allocation = [{ offset: 0, length: 3 * M, flags: 0 }, { offset: 3 * M, length: T - 3 * M - 100 * M, flags: 3 }, { offset: T - 100 * M, length: 100 * M, flags: 0 }];
    const dirty = [{ offset: 5 * C, length: C, flags: 1 }, { offset: 600 * 1024 * M, length: 2 * M + C, flags: 1 }, { offset: T - M, length: M, flags: 1 }];
    for (const d of [undefined, dirty]) {
      const all = [...copyPlan({ virtualSize: 64 * M, blockSize: M, clusterSize: C, allocation: allocation.map((e) => ({ ...e, length: Math.min(e.length, 64 * M) })), dirty: d })];
      const busy = all.filter((s) => s.read || s.data.length || s.zero.length);
      const skipped = [...copyPlan({ virtualSize: 64 * M, blockSize: M, clusterSize: C, allocation: allocation.map((e) => ({ ...e, length: Math.min(e.length, 64 * M) })), dirty: d, skipIdle: true })];
      expect(skipped).toEqual(busy);
    }
    const t0 = Date.now();
    const full = [...copyPlan({ virtualSize: T, blockSize: M, clusterSize: C, allocation, skipIdle: true })];
    expect(full.map((s) => s.index)).toEqual([0, 1, 2, ...Array.from({ length: 100 }, (_, i) => 1024 * 1024 - 100 + i)]);
    const inc = [...copyPlan({ virtualSize: T, blockSize: M, clusterSize: C, allocation, dirty, skipIdle: true })];
    expect(inc.map((s) => s.index)).toEqual([0, 600 * 1024, 600 * 1024 + 1, 600 * 1024 + 2, 1024 * 1024 - 1]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
