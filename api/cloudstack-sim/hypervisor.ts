/**
 * @layer port
 * SimHypervisor: what the simulator's start/stop jobs do to the libvirt domain a VM is mapped
 * onto (VMs without `libvirtDomain` change state only in the simulator).
 *
 * Contract (hypervisor.test.ts runs it against every adapter, the virsh one on a real lab VM):
 * - `start` leaves the domain running; a domain already running is not an error. With
 *   `domainXmlPath` the domain is created transient from that XML (as CloudStack runs every VM),
 *   otherwise the defined domain is started.
 * - `stop` leaves the domain not running (a transient domain disappears); stopping a domain that
 *   is not running is not an error.
 * - `state` answers libvirt's words: 'running', 'paused', 'shut off', … or 'absent'.
 * - Failures reject with a SimHypervisorError naming the domain.
 */

export interface DomainRef {
  libvirtDomain: string;
  domainXmlPath?: string;
}

export interface SimHypervisor {
  start(vm: DomainRef, signal?: AbortSignal): Promise<void>;
  stop(vm: DomainRef, opts?: { forced?: boolean; signal?: AbortSignal }): Promise<void>;
  state(domain: string, signal?: AbortSignal): Promise<string>;
}

export class SimHypervisorError extends Error {
  override name = 'SimHypervisorError';
}

/** In-memory hypervisor: a set of running domain names; `failNext` makes the next start/stop of a domain fail. */
export class MemoryHypervisor implements SimHypervisor {
  readonly running = new Set<string>();
  readonly defined = new Set<string>();
  private readonly failures = new Map<string, string>();

  failNext(domain: string, message: string): void {
    this.failures.set(domain, message);
  }

  private checkFailure(domain: string): void {
    const f = this.failures.get(domain);
    if (f !== undefined) {
      this.failures.delete(domain);
      throw new SimHypervisorError(`[cloudstack-sim] [memory] ${domain}: ${f}`);
    }
  }

  async start(vm: DomainRef): Promise<void> {
    this.checkFailure(vm.libvirtDomain);
    if (!vm.domainXmlPath && !this.defined.has(vm.libvirtDomain) && !this.running.has(vm.libvirtDomain)) {
      throw new SimHypervisorError(`[cloudstack-sim] [memory] ${vm.libvirtDomain}: no such domain and no XML to create it from`);
    }
    this.running.add(vm.libvirtDomain);
  }

  async stop(vm: DomainRef): Promise<void> {
    this.checkFailure(vm.libvirtDomain);
    this.running.delete(vm.libvirtDomain);
  }

  async state(domain: string): Promise<string> {
    if (this.running.has(domain)) return 'running';
    return this.defined.has(domain) ? 'shut off' : 'absent';
  }
}
