import { describe, expect, it } from 'vitest';
import { retentionPlan, type RetainablePoint } from './retention.ts';

/** a chain per week: a full on Monday, incrementals after it, one point a day at 02:00 */
function days(n: number, start = '2025-01-06'): RetainablePoint[] {
  const out: RetainablePoint[] = [];
  for (let i = 0; i < n; i++) {
    const at = new Date(Date.parse(`${start}T02:00:00Z`) + i * 86_400_000);
    const full = i % 7 === 0;
    out.push({ id: `p${i}`, parentId: full ? null : `p${i - 1}`, createdAt: at });
  }
  return out;
}

describe('retentionPlan', () => {
  const now = new Date('2025-02-10T00:00:00Z');

  it('keepLast keeps the newest N and every point they build on', () => {
    const plan = retentionPlan(days(14), { keepLast: 2 }, now);
    // p13 and p12 are incrementals of the chain that starts at p7
    expect(plan.keep.sort()).toEqual(['p10', 'p11', 'p12', 'p13', 'p7', 'p8', 'p9']);
    expect(plan.expire.sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(plan.reasons.p7).toContain('parent of p13');
  });

  it('weekly keeps the newest point of each ISO week', () => {
    const plan = retentionPlan(days(21), { keepWeekly: 2 }, now);
    // weeks of 2025-01-20 and 2025-01-13: their newest are p20 and p13 (Sundays)
    expect(plan.reasons.p20).toContain('weekly 2025-W04');
    expect(plan.reasons.p13).toContain('weekly 2025-W03');
    expect(plan.expire).toEqual(['p6', 'p5', 'p4', 'p3', 'p2', 'p1', 'p0']);
  });

  it('maxAgeDays drops even what other rules keep, but never the parents of a kept point', () => {
    // chain 1: p0–p6 (Jan 6–12), chain 2: p7–p13 (Jan 13–19); 30 days before Feb 14, 01:00 is Jan 15, 01:00
    const plan = retentionPlan(days(14), { keepLast: 30, maxAgeDays: 30 }, new Date('2025-02-14T01:00:00Z'));
    expect(plan.keep.sort()).toEqual(['p10', 'p11', 'p12', 'p13', 'p7', 'p8', 'p9']);
    expect([...plan.reasons.p8].sort()).toEqual(['parent of p10', 'parent of p11', 'parent of p12', 'parent of p13', 'parent of p9']);
    expect(plan.reasons.p8.every((r) => r.startsWith('parent of'))).toBe(true);
    expect(plan.expire.sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(retentionPlan(days(3), { maxAgeDays: 1 }, now).keep).toEqual([]);
  });

  it('daily and monthly buckets', () => {
    const pts = days(40, '2024-12-20');
    const plan = retentionPlan(pts, { keepDaily: 3, keepMonthly: 3 }, now);
    expect(Object.entries(plan.reasons).filter(([, r]) => r.some((x) => x.startsWith('monthly'))).map(([id]) => id).sort())
      .toEqual(['p11', 'p39'].sort());
    expect(plan.reasons.p39).toEqual(expect.arrayContaining(['daily 2025-01-28', 'monthly 2025-01']));
  });
});
