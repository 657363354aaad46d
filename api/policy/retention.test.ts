import { describe, expect, it } from 'vitest';
import { prunePlan } from '../../agent/retention/plan.ts';
import { retentionPlan, type RetainablePoint } from './retention.ts';

const MiB = 1 << 20;
const pid = (at: Date) => at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

/**
 * One point a day at 02:00 from `start`, a full every `fullEvery` points: ids are the repository's
 * (YYYYMMDD-020000). Fulls take 20 MiB, incrementals 1 MiB, disks are 32 MiB.
 */
function days(n: number, start = '2025-01-06', fullEvery = 7): RetainablePoint[] {
  const out: RetainablePoint[] = [];
  for (let i = 0; i < n; i++) {
    const at = new Date(Date.parse(`${start}T02:00:00Z`) + i * 86_400_000);
    const full = i % fullEvery === 0;
    out.push({ id: pid(at), parentId: full ? null : out[i - 1].id, createdAt: at, sizeBytes: full ? 20 * MiB : MiB, virtualSizeBytes: 32 * MiB });
  }
  return out;
}
const ids = (pts: RetainablePoint[], ...idx: number[]) => idx.map((i) => pts[i].id);

describe('retentionPlan', () => {
  const now = new Date('2025-02-10T00:00:00Z');

  it('keepLast keeps the newest N; the rest expire and the oldest survivor is merged forward', () => {
    const pts = days(14);
    const plan = retentionPlan(pts, { rules: { keepLast: 2 }, now });
    expect(plan.keep).toEqual(ids(pts, 13, 12));
    expect(plan.expire).toEqual(ids(pts, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    // p12 is an incremental of the chain that starts at p7: it becomes a full holding p11..p7
    expect(plan.merges).toEqual([{ pointId: pts[12].id, from: ids(pts, 11, 10, 9, 8, 7) }]);
    expect(plan.reasons[pts[13].id]).toEqual(['last']);
    expect(plan.expireReasons[pts[0].id]).toBe('kept by no rule');
    // freed: 2 fulls + 10 incrementals (50 MiB) minus what the merged full adds (p12 + 4 incrementals + a 20 MiB full = 25 MiB, less p12's own 1 MiB)
    expect(plan.bytesFreedEstimate).toBe(50 * MiB - 24 * MiB);
  });

  it('the merges are exactly what the agent plans for the same removal', () => {
    const pts = days(15);
    const plan = retentionPlan(pts, { rules: { keepLast: 3, keepWeekly: 2 }, now });
    const agent = prunePlan(pts.map((p) => ({ id: p.id, parent: p.parentId })), plan.expire);
    expect(plan.merges).toEqual(agent.merges);
    expect([...plan.expire].sort()).toEqual(agent.remove);
  });

  it('15 points over three weeks, rules combined: daily, weekly, monthly, keepLast', () => {
    // 2025-01-20 (Mon) .. 2025-02-03 (Mon): fulls on 01-20, 01-27, 02-03
    const pts = days(15, '2025-01-20');
    const plan = retentionPlan(pts, { rules: { keepLast: 2, keepDaily: 4, keepWeekly: 3, keepMonthly: 2 }, now });
    // last: 14, 13 · daily: 14, 13, 12, 11 · weekly: 14 (W06), 13 (W05 ends Sun 02-02), 6 (W04 ends Sun 01-26) · monthly: 14 (02), 11 (01-31)
    expect(plan.keep).toEqual(ids(pts, 14, 13, 12, 11, 6));
    expect(plan.reasons[pts[6].id]).toEqual(['weekly 2025-W04']);
    expect(plan.reasons[pts[11].id]).toEqual(['daily 2025-01-31', 'monthly 2025-01']);
    expect(plan.reasons[pts[14].id]).toEqual(expect.arrayContaining(['last', 'daily 2025-02-03', 'weekly 2025-W06', 'monthly 2025-02']));
    expect(plan.expire).toEqual(ids(pts, 10, 9, 8, 7, 5, 4, 3, 2, 1, 0));
    // p6 (incremental of the 01-20 chain) becomes a full of p5..p0; p11 (of the 01-27 chain) a full of p10..p7; p14 is a full already
    expect(plan.merges).toEqual([
      { pointId: pts[6].id, from: ids(pts, 5, 4, 3, 2, 1, 0) },
      { pointId: pts[11].id, from: ids(pts, 10, 9, 8, 7) },
    ]);
  });

  it('maxAgeDays drops what other rules keep, parents included: the survivors are merged', () => {
    // chain 1: p0–p6 (Jan 6–12), chain 2: p7–p13 (Jan 13–19); 30 days before Feb 14, 01:00 is Jan 15, 01:00
    const pts = days(14);
    const plan = retentionPlan(pts, { rules: { keepLast: 30, maxAgeDays: 30 }, now: new Date('2025-02-14T01:00:00Z') });
    expect(plan.keep).toEqual(ids(pts, 13, 12, 11, 10, 9));
    expect(plan.expireReasons[pts[8].id]).toBe('older than 30 days');
    expect(plan.merges).toEqual([{ pointId: pts[9].id, from: ids(pts, 8, 7) }]);
  });

  it('the newest point survives every rule; without keep rules nothing expires', () => {
    const pts = days(3);
    const plan = retentionPlan(pts, { rules: { maxAgeDays: 1 }, now });
    expect(plan.keep).toEqual(ids(pts, 2));
    expect(plan.reasons[pts[2].id]).toEqual(['newest: the next backup builds on it']);
    expect(plan.merges).toEqual([{ pointId: pts[2].id, from: ids(pts, 1, 0) }]);
    const none = retentionPlan(pts, { rules: {}, now });
    expect(none.expire).toEqual([]);
    expect(none.merges).toEqual([]);
    expect(none.bytesFreedEstimate).toBe(0);
  });

  it("a full that names the point before it (as the agent writes it) is merged when that point goes, as the agent plans it", () => {
    const pts = days(10, '2025-01-20', 5).map((p, i) => (i === 5 ? { ...p, agentParent: pid(new Date(Date.parse('2025-01-24T02:00:00Z'))) } : p));
    const plan = retentionPlan(pts, { rules: { keepLast: 5 }, now });
    expect(plan.expire).toEqual(ids(pts, 4, 3, 2, 1, 0));
    // the full p5 depends on nothing, but the agent rewrites it (its manifest names p4): the preview says so
    expect(plan.merges).toEqual([{ pointId: pts[5].id, from: ids(pts, 4, 3, 2, 1, 0) }]);
    expect(plan.merges).toEqual(prunePlan(pts.map((p) => ({ id: p.id, parent: p.agentParent ?? p.parentId })), plan.expire).merges);
  });

  it('maxChainLength: a chain longer than the maximum gets its oldest points merged forward', () => {
    // one chain of 15 (a full, 14 incrementals), every point kept by the rules
    const pts = days(15, '2025-01-20', 100);
    const plan = retentionPlan(pts, { rules: { keepLast: 15 }, maxChainLength: 5, now });
    expect(plan.keep).toEqual(ids(pts, 14, 13, 12, 11, 10));
    expect(plan.expireReasons[pts[0].id]).toBe("its chain holds 15 points, the policy's maximum is 5: merged forward");
    expect(plan.merges).toEqual([{ pointId: pts[10].id, from: ids(pts, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0) }]);
    // a chain within the maximum is left alone
    expect(retentionPlan(pts, { rules: { keepLast: 15 }, maxChainLength: 15, now }).expire).toEqual([]);
  });

  it('maxChainLength counts chains as they are after the rules: split chains are measured apart', () => {
    // one chain of 15; the rules keep 14, 13, 12 and 6 (weekly): the survivors form [6] and [12, 13, 14]
    const pts = days(15, '2025-01-20', 100);
    const plan = retentionPlan(pts, { rules: { keepLast: 3, keepWeekly: 3 }, maxChainLength: 2, now });
    expect(plan.keep).toEqual(ids(pts, 14, 13, 6));
    expect(plan.expireReasons[pts[12].id]).toMatch(/chain holds 3 points/);
    expect(plan.merges).toEqual([
      { pointId: pts[6].id, from: ids(pts, 5, 4, 3, 2, 1, 0) },
      { pointId: pts[13].id, from: ids(pts, 12, 11, 10, 9, 8, 7) },
    ]);
  });
});
