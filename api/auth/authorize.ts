/**
 * @layer usecase
 * What a principal may do, decided with CloudStack's answers (root admin view), never with what
 * the client says:
 *
 * - `scope(p)`: the rows a list shows — everything for a root admin; for a domain admin the VMs
 *   of their domain and its subdomains (the subtree from CloudStack's listDomains, cached for
 *   `domainCacheMs`); for a user the VMs of their account (account name and domain id).
 * - `vm(p, id)`: one VM, checked live against CloudStack (listVirtualMachines id=): its account
 *   and domain now, not as discovery last saw them. A VM CloudStack does not know and somebody
 *   else's VM get the same answer, "VM <id> not found" (`VmNotFoundError`, `NotVisibleError`:
 *   a 404 either way, so nobody learns which VMs exist); CloudStack not answering is
 *   `unavailable` (refused).
 *   A read (`{ read: true }`: listings) may use CloudStack's answer for the VM from the last
 *   `vmCacheMs` (default 5 s; successful answers only, ownership still decided per principal):
 *   a busy listing client costs CloudStack one call per VM every few seconds instead of one per
 *   request, and a VM that changes hands is hidden from its old owner within that time. Changes
 *   (backups, restores, assignments) always ask CloudStack afresh.
 * - `admin(p)`: root admin only (policies, hosts, agents, repositories).
 */
import type { CloudStackApi } from '../cloudstack/port.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import type { VirtualMachine } from '../cloudstack/schemas.ts';
import type { Scope } from '../../db/store.ts';
import { AuthError, NotVisibleError, VmNotFoundError } from './errors.ts';
import type { Principal } from './principal.ts';

/** What a caller is told about a VM CloudStack does not know, and about one that is not theirs. */
export const notFoundText = (vmId: string) => `VM ${vmId} not found`;

export interface AuthorizerDeps {
  cs: Pick<CloudStackApi, 'getVirtualMachine' | 'listAll'>;
  domainCacheMs?: number;
  /** how long a read may reuse CloudStack's answer for a VM (default 5000; 0: never) */
  vmCacheMs?: number;
  clock?: () => number;
}

export class Authorizer {
  private domains?: { at: number; parent: Map<string, string | undefined> };
  private readonly clock: () => number;
  private readonly vms = new Map<string, { at: number; vm: VirtualMachine }>();

  constructor(private readonly deps: AuthorizerDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  admin(p: Principal, what: string): void {
    if (p.role !== 'root-admin') throw new AuthError('forbidden', `${what} is for root admins only (${p.username} is a ${p.role})`);
  }

  async scope(p: Principal): Promise<Scope> {
    if (p.role === 'root-admin') return { kind: 'all' };
    if (p.role === 'user') return { kind: 'account', domainId: p.domainId, account: p.account };
    return { kind: 'domains', domainIds: await this.subtree(p.domainId) };
  }

  /** CloudStack's view of the VM, when the principal may act on it. */
  async vm(p: Principal, vmId: string, opts: { read?: boolean } = {}): Promise<VirtualMachine> {
    const vm = await this.lookup(vmId, opts.read === true);
    if (!(await this.owns(p, vm))) {
      throw new NotVisibleError(notFoundText(vmId), `VM ${vmId} belongs to account ${vm.account ?? '?'} in another domain or account than ${p.username}'s`);
    }
    return vm;
  }

  private async lookup(vmId: string, mayReuse: boolean): Promise<VirtualMachine> {
    const now = this.clock();
    const maxAge = this.deps.vmCacheMs ?? 5_000;
    const hit = this.vms.get(vmId);
    if (mayReuse && hit && now - hit.at < maxAge) return hit.vm;
    let vm: VirtualMachine;
    try {
      vm = await this.deps.cs.getVirtualMachine(vmId);
    } catch (e) {
      this.vms.delete(vmId);
      if (e instanceof CloudStackError && (e.kind === 'notfound' || (e.kind === 'api' && e.errorcode === 431))) {
        throw new VmNotFoundError(notFoundText(vmId), { cause: e });
      }
      throw new AuthError('unavailable', `cannot check access to VM ${vmId}: CloudStack did not answer (${(e as Error).message})`, undefined, { cause: e });
    }
    if (maxAge > 0) {
      if (this.vms.size >= 10_000) this.vms.clear(); // a bound, not a policy: entries live seconds
      this.vms.set(vmId, { at: now, vm });
    }
    return vm;
  }

  private async owns(p: Principal, vm: VirtualMachine): Promise<boolean> {
    if (p.role === 'root-admin') return true;
    if (!vm.domainid) return false;
    if (p.role === 'user') return vm.account === p.account && vm.domainid === p.domainId;
    return (await this.subtree(p.domainId)).includes(vm.domainid);
  }

  private async subtree(rootId: string): Promise<string[]> {
    const now = this.clock();
    if (!this.domains || now - this.domains.at > (this.deps.domainCacheMs ?? 60_000)) {
      let list;
      try {
        list = await this.deps.cs.listAll('listDomains', { listall: true });
      } catch (e) {
        throw new AuthError('unavailable', `cannot read CloudStack's domains: ${(e as Error).message}`, undefined, { cause: e });
      }
      const parent = new Map<string, string | undefined>();
      for (const d of list) if (typeof d.id === 'string') parent.set(d.id, typeof d.parentdomainid === 'string' ? d.parentdomainid : undefined);
      this.domains = { at: now, parent };
    }
    const { parent } = this.domains;
    const out: string[] = [];
    for (const id of parent.keys()) {
      for (let cur: string | undefined = id, depth = 0; cur && depth < 64; cur = parent.get(cur), depth++) {
        if (cur === rootId) { out.push(id); break; }
      }
    }
    if (!out.includes(rootId)) out.push(rootId);
    return out;
  }
}
