/**
 * @layer usecase
 * What a principal may do, decided with CloudStack's answers (root admin view), never with what
 * the client says:
 *
 * - `scope(p)`: the rows a list shows — everything for a root admin; for a domain admin the VMs
 *   of their domain and its subdomains (the subtree from CloudStack's listDomains, cached for
 *   `domainCacheMs`); for a user the VMs of their account (account name and domain id).
 * - `vm(p, id)`: one VM, checked live against CloudStack (listVirtualMachines id=): its account
 *   and domain now, not as discovery last saw them. A VM CloudStack does not know is `notfound`,
 *   somebody else's is `forbidden`, and CloudStack not answering is `unavailable` (refused).
 * - `admin(p)`: root admin only (policies, hosts, agents, repositories).
 */
import type { CloudStackApi } from '../cloudstack/port.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import type { VirtualMachine } from '../cloudstack/schemas.ts';
import type { Scope } from '../../db/store.ts';
import { AuthError, VmNotFoundError } from './errors.ts';
import type { Principal } from './principal.ts';

export interface AuthorizerDeps {
  cs: Pick<CloudStackApi, 'getVirtualMachine' | 'listAll'>;
  domainCacheMs?: number;
  clock?: () => number;
}

export class Authorizer {
  private domains?: { at: number; parent: Map<string, string | undefined> };
  private readonly clock: () => number;

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
  async vm(p: Principal, vmId: string): Promise<VirtualMachine> {
    let vm: VirtualMachine;
    try {
      vm = await this.deps.cs.getVirtualMachine(vmId);
    } catch (e) {
      if (e instanceof CloudStackError && (e.kind === 'notfound' || (e.kind === 'api' && e.errorcode === 431))) {
        throw new VmNotFoundError(`[auth] CloudStack knows no VM ${vmId}`, { cause: e });
      }
      throw new AuthError('unavailable', `cannot check access to VM ${vmId}: CloudStack did not answer (${(e as Error).message})`, undefined, { cause: e });
    }
    if (!(await this.owns(p, vm))) {
      throw new AuthError('forbidden', `VM ${vmId} belongs to account ${vm.account ?? '?'} in another domain or account than ${p.username}'s`);
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
