import { describe, expect, it } from 'vitest';
import { prunePlan, PrunePlanError } from './plan.ts';

const chain = (...ids: string[]) => ids.map((id, i) => ({ id, parent: i === 0 ? null : ids[i - 1] }));

describe('prunePlan', () => {
  it('removing the oldest points of a chain merges the first survivor forward', () => {
    const pts = chain('20260101-000000', '20260102-000000', '20260103-000000', '20260104-000000');
    expect(prunePlan(pts, ['20260102-000000', '20260101-000000'])).toEqual({
      remove: ['20260101-000000', '20260102-000000'],
      merges: [{ pointId: '20260103-000000', from: ['20260102-000000', '20260101-000000'] }],
    });
  });
  it('removing a whole tail or a whole chain needs no merge', () => {
    const pts = [...chain('20260101-000000', '20260102-000000'), ...chain('20260103-000000', '20260104-000000')];
    expect(prunePlan(pts, ['20260104-000000']).merges).toEqual([]);
    expect(prunePlan(pts, ['20260101-000000', '20260102-000000'])).toEqual({ remove: ['20260101-000000', '20260102-000000'], merges: [] });
  });
  it('removing a point in the middle rewrites its child as a full', () => {
    const pts = chain('20260101-000000', '20260102-000000', '20260103-000000');
    expect(prunePlan(pts, ['20260102-000000']).merges).toEqual([{ pointId: '20260103-000000', from: ['20260102-000000'] }]);
  });
  it('refuses a point that does not exist', () => {
    expect(() => prunePlan(chain('20260101-000000'), ['20260109-000000'])).toThrow(PrunePlanError);
  });
});
