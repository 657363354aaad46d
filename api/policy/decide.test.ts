import { describe, expect, it } from 'vitest';
import { decideBackup, DecisionError, type HeadFacts } from './decide.ts';

const limits = { fullEvery: 7, maxChainLength: 10 };
const head = (over: Partial<HeadFacts> = {}): HeadFacts => ({
  pointId: '20250101-000000', chainLength: 3, verification: 'unverified',
  disks: [{ index: 0, volumeId: 'v0', virtualSize: 100, checkpoint: 'sendense-20250101-000000' }], ...over,
});
const disks = [{ volumeId: 'v0', size: 100 }];

describe('decideBackup', () => {
  it('incremental on a healthy chain, sent to the agent as auto', () => {
    const d = decideBackup({ requested: 'auto', limits, head: head(), disks });
    expect(d).toEqual({ type: 'incremental', agentMode: 'auto', reason: 'incremental since 20250101-000000 (point 4 of the chain)' });
  });

  it('an insisted incremental goes to the agent as incremental', () => {
    expect(decideBackup({ requested: 'incremental', limits, head: head(), disks }).agentMode).toBe('incremental');
  });

  it.each([
    ['asked for', { requested: 'full' as const, head: head() }, /full backup requested/],
    ['no chain', { head: undefined }, /no restore point/],
    ['head without checkpoint', { head: head({ disks: [{ index: 0, volumeId: 'v0', virtualSize: 100, checkpoint: null }] }) }, /disk 0 .* no checkpoint/],
    ['head failed verification', { head: head({ verification: 'failed' }) }, /failed verification/],
    ['checkpoint reported invalid', { checkpointInvalid: 'job x ended with incremental_impossible' }, /cannot be trusted \(job x ended with incremental_impossible\)/],
    ['a volume attached', { disks: [...disks, { volumeId: 'v1', size: 5 }] }, /volume v1 was attached/],
    ['a volume detached', { disks: [] as { volumeId: string; size: number }[], head: head({ disks: [...head().disks, { index: 1, volumeId: 'v1', virtualSize: 5, checkpoint: 'c' }] }) }, /volume v0 was attached|volume v1 was detached|v0 was detached/],
    ['a volume resized', { disks: [{ volumeId: 'v0', size: 200 }] }, /resized \(100 → 200 bytes\)/],
    ['chain at the maximum', { head: head({ chainLength: 10 }), limits: { fullEvery: 100, maxChainLength: 10 } }, /holds 10 points, the policy's maximum is 10/],
    ['every 7th', { head: head({ chainLength: 7 }) }, /every 7th backup is a full/],
    ['always full', { head: head({ chainLength: 1 }), limits: { fullEvery: 1, maxChainLength: 10 } }, /only fulls/],
  ])('full when %s', (_name, over, reason) => {
    const d = decideBackup({ requested: 'auto', limits, head: head(), disks, ...over });
    expect(d.type).toBe('full');
    expect(d.agentMode).toBe('full');
    expect(d.reason).toMatch(reason);
  });

  it('the Nth backup: N-1 points in the chain still give an incremental', () => {
    expect(decideBackup({ requested: 'auto', limits, head: head({ chainLength: 6 }), disks }).type).toBe('incremental');
  });

  it('an insisted incremental that is impossible is refused with the reason', () => {
    expect(() => decideBackup({ requested: 'incremental', limits, head: undefined })).toThrow(DecisionError);
    expect(() => decideBackup({ requested: 'incremental', limits, head: head({ chainLength: 10 }), disks })).toThrow(/impossible: full: the chain holds 10/);
  });

  it('unknown disks (not discovered) do not force a full', () => {
    expect(decideBackup({ requested: 'auto', limits, head: head() }).type).toBe('incremental');
  });
});
