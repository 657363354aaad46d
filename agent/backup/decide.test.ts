import { describe, expect, it } from 'vitest';
import { decideDisk, DecisionError, summarize, type DiskFacts } from './decide.ts';

const base: DiskFacts = {
  target: 'vda', kind: 'file', format: 'qcow2', virtualSize: 100,
  parent: { pointId: '20261126-000000', checkpoint: 'sendense-20261126-000000', virtualSize: 100 },
  bitmap: 'present', libvirtKnowsCheckpoint: true,
};

describe('decide full or incremental', () => {
  it('incremental when the parent checkpoint is usable', () => {
    expect(decideDisk('auto', base)).toMatchObject({ type: 'incremental', redefine: false, track: true });
  });
  it('redefines a checkpoint libvirt forgot', () => {
    const d = decideDisk('auto', { ...base, libvirtKnowsCheckpoint: false });
    expect(d).toMatchObject({ type: 'incremental', redefine: true });
    expect(d.reason).toMatch(/forgotten/);
  });
  it('full with a reason for each obstacle', () => {
    expect(decideDisk('auto', { ...base, parent: undefined }).reason).toMatch(/no earlier restore point/);
    expect(decideDisk('auto', { ...base, bitmap: 'inconsistent' })).toMatchObject({ type: 'full', dropInconsistent: true });
    expect(decideDisk('auto', { ...base, bitmap: 'missing' }).reason).toMatch(/missing/);
    expect(decideDisk('auto', { ...base, virtualSize: 200 }).reason).toMatch(/resized/);
    expect(decideDisk('auto', { ...base, format: 'raw' })).toMatchObject({ type: 'full', track: false });
    expect(decideDisk('auto', { ...base, kind: 'network' }).reason).toMatch(/network disk/);
    expect(decideDisk('full', base)).toMatchObject({ type: 'full', reason: 'full backup requested' });
  });
  it('refuses an impossible incremental when one was demanded', () => {
    expect(() => decideDisk('incremental', { ...base, bitmap: 'inconsistent' })).toThrow(DecisionError);
  });
  it('summarizes', () => {
    expect(summarize([decideDisk('auto', base), decideDisk('auto', { ...base, target: 'vdb', parent: undefined })]).type).toBe('incremental');
    expect(summarize([decideDisk('full', base)]).type).toBe('full');
  });
});
