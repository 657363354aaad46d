import { describe, expect, it } from 'vitest';
import type { PointManifest } from '../../agent/repository/manifest.ts';
import { linkPoint, PointLinkError } from './link-point.ts';
import { pickRunnable } from './queue.ts';
import { allowedFrom, isTerminal, JobStateError, nextStatus } from './state.ts';

describe('job state machine', () => {
  it('walks the happy path and the cancel paths', () => {
    expect(nextStatus('queued', 'dispatch')).toBe('dispatching');
    expect(nextStatus('dispatching', 'accepted')).toBe('running');
    expect(nextStatus('running', 'succeed')).toBe('succeeded');
    expect(nextStatus('queued', 'cancel')).toBe('cancelled');
    expect(nextStatus('running', 'cancel')).toBe('cancelling');
    expect(nextStatus('cancelling', 'cancelled')).toBe('cancelled');
    expect(nextStatus('cancelling', 'succeed')).toBe('succeeded');
  });

  it('a finished job takes nothing; a queued one cannot succeed', () => {
    for (const s of ['succeeded', 'failed', 'cancelled'] as const) {
      expect(isTerminal(s)).toBe(true);
      expect(() => nextStatus(s, 'cancel')).toThrow(JobStateError);
    }
    expect(() => nextStatus('queued', 'succeed')).toThrow(/a queued job cannot take 'succeed'/);
  });

  it('allowedFrom gives the compare-and-set guard', () => {
    expect(allowedFrom('fail').sort()).toEqual(['cancelling', 'dispatching', 'queued', 'running']);
    expect(allowedFrom('requeue')).toEqual(['dispatching']);
    expect(allowedFrom('succeed').sort()).toEqual(['cancelling', 'running']);
    expect(allowedFrom('cancel').sort()).toEqual(['dispatching', 'queued', 'running']);
  });
});

describe('pickRunnable', () => {
  const q = (id: string, vmId: string, hostId: string | null) => ({ id, vmId, hostId });
  it('per-host limit, first come first served, one job per VM', () => {
    const queued = [q('1', 'a', 'h1'), q('2', 'b', 'h1'), q('3', 'c', 'h1'), q('4', 'd', 'h2'), q('5', 'a', 'h1'), q('6', 'e', null)];
    expect(pickRunnable(queued, [], 2)).toEqual(['1', '2', '4', '6']);
    expect(pickRunnable(queued, [{ vmId: 'x', hostId: 'h1' }], 2)).toEqual(['1', '4', '6']);
    expect(pickRunnable(queued, [{ vmId: 'a', hostId: 'h9' }], 2)).toEqual(['2', '3', '4', '6']);
    expect(pickRunnable(queued, [{ vmId: 'y', hostId: 'h1' }, { vmId: 'z', hostId: 'h1' }], 2)).toEqual(['4', '6']);
  });
});

describe('linkPoint', () => {
  const m = (over: Partial<PointManifest>) => ({ vm_uuid: 'VM-1', type: 'incremental', parent: 'P1', id: 'P2', ...over }) as PointManifest;
  const head = { chainId: 'c1', id: 'db-p1', pointId: 'P1' };
  it('a full starts a chain, an incremental extends the head', () => {
    expect(linkPoint(m({ type: 'full', parent: null }), 'vm-1', head)).toEqual({ kind: 'new' });
    expect(linkPoint(m({}), 'vm-1', head)).toEqual({ kind: 'extend', chainId: 'c1', parentId: 'db-p1' });
  });
  it('refuses what the recorded chain does not support', () => {
    expect(() => linkPoint(m({ vm_uuid: 'other' }), 'vm-1', head)).toThrow(/is of VM other/);
    expect(() => linkPoint(m({ parent: 'P0' }), 'vm-1', head)).toThrow(/builds on P0, but the recorded chain ends at P1/);
    expect(() => linkPoint(m({}), 'vm-1', undefined)).toThrow(PointLinkError);
    expect(() => linkPoint(m({ parent: null }), 'vm-1', head)).toThrow(/no parent/);
    // a full that names the point before it (as the agent writes it) still starts a chain of its own
    expect(linkPoint(m({ type: 'full', parent: 'P1' }), 'vm-1', head)).toEqual({ kind: 'new' });
  });
});
