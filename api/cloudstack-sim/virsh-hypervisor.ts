/**
 * @layer adapter
 * SimHypervisor over virsh (qemu:///system): `virsh create FILE` for a transient domain whose
 * XML the state names, `virsh start` for a defined one, `virsh destroy` to stop (lab guests have
 * no OS to answer an ACPI shutdown, and CloudStack's forced stop is a destroy too).
 */
import { run, CommandError } from '../../agent/system/run.ts';
import { SimHypervisorError, type DomainRef, type SimHypervisor } from './hypervisor.ts';

export interface VirshHypervisorOptions {
  uri?: string;
  timeoutMs?: number;
}

export function createVirshHypervisor(opts: VirshHypervisorOptions = {}): SimHypervisor {
  const uri = opts.uri ?? 'qemu:///system';
  const virsh = async (args: string[], signal?: AbortSignal) =>
    (await run('virsh', ['-q', '-c', uri, ...args], { timeoutMs: opts.timeoutMs ?? 60_000, signal })).stdout;
  const fail = (domain: string, what: string, e: unknown) =>
    new SimHypervisorError(`[cloudstack-sim] [virsh] ${what} ${domain}: ${e instanceof CommandError ? e.stderr.trim() || e.message : String(e)}`, { cause: e });

  const state = async (domain: string, signal?: AbortSignal): Promise<string> => {
    try {
      return (await virsh(['domstate', domain], signal)).trim();
    } catch (e) {
      if (e instanceof CommandError && /failed to get domain|Domain not found/i.test(e.stderr)) return 'absent';
      throw fail(domain, 'domstate', e);
    }
  };

  return {
    state,
    async start(vm: DomainRef, signal?: AbortSignal) {
      const st = await state(vm.libvirtDomain, signal);
      if (st === 'running') return;
      try {
        if (st === 'paused') await virsh(['resume', vm.libvirtDomain], signal);
        else if (st === 'absent' && vm.domainXmlPath) await virsh(['create', vm.domainXmlPath], signal);
        else await virsh(['start', vm.libvirtDomain], signal);
      } catch (e) {
        throw fail(vm.libvirtDomain, 'start', e);
      }
    },
    async stop(vm: DomainRef, o: { forced?: boolean; signal?: AbortSignal } = {}) {
      const st = await state(vm.libvirtDomain, o.signal);
      if (st === 'absent' || st === 'shut off') return;
      try {
        await virsh(['destroy', vm.libvirtDomain], o.signal);
      } catch (e) {
        throw fail(vm.libvirtDomain, 'destroy', e);
      }
    },
  };
}
