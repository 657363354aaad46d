import { describe, expect, it } from 'vitest';
import { assignmentTarget, effectiveAssignment, matches, type VmFacts } from './assign.ts';

const vm: VmFacts = { id: 'vm1', zoneId: 'z1', domainId: 'd1', account: 'alice', tags: [{ key: 'tier', value: 'gold' }, { key: 'env', value: 'prod' }] };

describe('policy assignments', () => {
  it('targets are canonical strings per kind', () => {
    expect(assignmentTarget({ kind: 'vm', vmId: 'vm1' })).toBe('vm1');
    expect(assignmentTarget({ kind: 'zone', zoneId: 'z1' })).toBe('z1');
    expect(assignmentTarget({ kind: 'account', domainId: 'd1', account: 'alice' })).toBe('d1/alice');
    expect(assignmentTarget({ kind: 'tag', key: 'tier', value: 'gold' })).toBe('tier=gold');
  });

  it('matches each kind, and only the same account in the same domain', () => {
    expect(matches(vm, { policyId: 'p', kind: 'account', target: 'd1/alice' })).toBe(true);
    expect(matches(vm, { policyId: 'p', kind: 'account', target: 'd2/alice' })).toBe(false);
    expect(matches(vm, { policyId: 'p', kind: 'tag', target: 'env=prod' })).toBe(true);
    expect(matches(vm, { policyId: 'p', kind: 'tag', target: 'env=dev' })).toBe(false);
    expect(matches({ ...vm, zoneId: null }, { policyId: 'p', kind: 'zone', target: 'z1' })).toBe(false);
  });

  it('the most specific wins: vm, then tag, then account, then zone', () => {
    const all = [
      { policyId: 'zone', kind: 'zone' as const, target: 'z1' },
      { policyId: 'account', kind: 'account' as const, target: 'd1/alice' },
      { policyId: 'tag-tier', kind: 'tag' as const, target: 'tier=gold' },
      { policyId: 'tag-env', kind: 'tag' as const, target: 'env=prod' },
      { policyId: 'vm', kind: 'vm' as const, target: 'vm1' },
      { policyId: 'other-vm', kind: 'vm' as const, target: 'vm2' },
    ];
    expect(effectiveAssignment(vm, all)?.policyId).toBe('vm');
    expect(effectiveAssignment(vm, all.filter((a) => a.kind !== 'vm'))?.policyId).toBe('tag-env');
    expect(effectiveAssignment(vm, all.filter((a) => a.kind !== 'vm' && a.kind !== 'tag'))?.policyId).toBe('account');
    expect(effectiveAssignment(vm, all.filter((a) => a.kind === 'zone'))?.policyId).toBe('zone');
    expect(effectiveAssignment(vm, all.filter((a) => a.policyId === 'other-vm'))).toBeUndefined();
  });
});
