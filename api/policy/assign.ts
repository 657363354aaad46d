/**
 * @layer logic
 * Policy assignments: a policy is assigned to a VM, or to every VM of a zone, of an account, or
 * carrying a CloudStack tag. A VM's effective policy is the most specific assignment that
 * matches it — vm, then tag, then account, then zone — and among tags the first by target.
 *
 * Targets are stored as one string per kind: vm `<vm id>`, zone `<zone id>`, account
 * `<domain id>/<account name>`, tag `<key>=<value>`.
 */
import type { AssignmentKind, VmTag } from '../../db/schema.ts';

export type AssignmentInput =
  | { kind: 'vm'; vmId: string }
  | { kind: 'zone'; zoneId: string }
  | { kind: 'account'; domainId: string; account: string }
  | { kind: 'tag'; key: string; value: string };

export function assignmentTarget(a: AssignmentInput): string {
  switch (a.kind) {
    case 'vm': return a.vmId;
    case 'zone': return a.zoneId;
    case 'account': return `${a.domainId}/${a.account}`;
    case 'tag': return `${a.key}=${a.value}`;
  }
}

/** What a VM is matched on. */
export interface VmFacts {
  id: string;
  zoneId: string | null;
  domainId: string;
  account: string;
  tags: VmTag[];
}

export interface AssignmentLike {
  policyId: string;
  kind: AssignmentKind;
  target: string;
}

const RANK: Record<AssignmentKind, number> = { vm: 0, tag: 1, account: 2, zone: 3 };

export function matches(vm: VmFacts, a: AssignmentLike): boolean {
  switch (a.kind) {
    case 'vm': return a.target === vm.id;
    case 'zone': return vm.zoneId !== null && a.target === vm.zoneId;
    case 'account': return a.target === `${vm.domainId}/${vm.account}`;
    case 'tag': return vm.tags.some((t) => a.target === `${t.key}=${t.value}`);
  }
}

/** The assignment that decides the VM's policy, or undefined when none matches. */
export function effectiveAssignment<A extends AssignmentLike>(vm: VmFacts, assignments: A[]): A | undefined {
  let best: A | undefined;
  for (const a of assignments) {
    if (!matches(vm, a)) continue;
    if (!best || RANK[a.kind] < RANK[best.kind] || (RANK[a.kind] === RANK[best.kind] && a.target < best.target)) best = a;
  }
  return best;
}
