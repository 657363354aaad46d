/**
 * @layer usecase
 * Virtual machines: listVirtualMachines, startVirtualMachine, stopVirtualMachine. Start and stop
 * are async jobs that move the VM through Starting/Stopping and act on the mapped libvirt domain
 * through the hypervisor port; a VM that is already running cannot be started (the job fails,
 * as CloudStack's does), stopping a stopped VM succeeds.
 */
import { apiErrors } from '../api-error.ts';
import { checkAccess, listScope } from '../access.ts';
import type { SimRuntime } from '../runtime.ts';
import type { VmState } from '../state.ts';
import { vmView } from '../views.ts';
import { ALL, LIST_PARAMS, SCOPE_PARAMS, listReply, matches, matchesKeyword, type CommandContext, type CommandDef } from './command.ts';

const JOB_CLASS = {
  start: 'org.apache.cloudstack.api.command.admin.vm.StartVMCmdByAdmin',
  stop: 'org.apache.cloudstack.api.command.admin.vm.StopVMCmdByAdmin',
};

function pickHost(rt: SimRuntime, vm: VmState, hostid: unknown): string {
  if (typeof hostid === 'string') return rt.find(rt.state.hosts, hostid, 'startVirtualMachine', 'hostid').id;
  const up = rt.state.hosts.filter((h) => h.zoneId === vm.zoneId && h.state === 'Up' && h.resourceState === 'Enabled');
  const host = up.find((h) => h.id === vm.lastHostId) ?? up[0];
  if (!host) throw apiErrors.internal(`Unable to create a deployment for VM instance {"id":${vm.internalId},"instanceName":"${vm.instanceName}","uuid":"${vm.id}"}`);
  return host.id;
}

function visibleVm(ctx: CommandContext): VmState {
  const vm = ctx.rt.find(ctx.rt.state.vms, ctx.args.id, ctx.command, 'id');
  checkAccess(ctx.rt.state, ctx.caller, vm.accountId, `VM ${vm.id}`);
  return vm;
}

export const vmCommands: Record<string, CommandDef> = {
  listVirtualMachines: {
    roles: ALL,
    params: {
      ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, state: { type: 'string' },
      zoneid: { type: 'uuid' }, hostid: { type: 'uuid' }, templateid: { type: 'uuid' }, serviceofferingid: { type: 'uuid' }, details: { type: 'string' },
    },
    run({ rt, caller, args }) {
      if (args.id !== undefined) rt.find(rt.state.vms, args.id, 'listVirtualMachines', 'id');
      const inScope = listScope(rt.state, caller, args);
      const hostFilter = caller.rootAdmin ? args.hostid : undefined;
      const items = rt.state.vms
        .filter((vm) => inScope(vm.accountId))
        .filter((vm) => matches(args, { id: vm.id, name: vm.name, zoneid: vm.zoneId, templateid: vm.templateId, serviceofferingid: vm.serviceOfferingId }))
        .filter((vm) => args.state === undefined || String(args.state).toLowerCase() === vm.state.toLowerCase())
        .filter((vm) => hostFilter === undefined || vm.hostId === hostFilter)
        .filter((vm) => matchesKeyword(args, vm.name, vm.displayName))
        .map((vm) => vmView(rt.state, vm, caller));
      return listReply('virtualmachine', items, args, rt.state.settings.defaultPageSize);
    },
  },

  startVirtualMachine: {
    roles: ALL,
    params: { id: { type: 'uuid', required: true }, hostid: { type: 'uuid' } },
    run(ctx) {
      const { rt, caller } = ctx;
      const vm = visibleVm(ctx);
      const hostid = caller.rootAdmin ? ctx.args.hostid : undefined;
      const job = rt.startJob(caller, { cmd: JOB_CLASS.start, instanceType: 'VirtualMachine', instanceId: vm.id }, async () => {
        if (vm.state === 'Running') throw apiErrors.internal(`The virtual machine ${vm.id} (${vm.displayName ?? vm.name}) is already running`);
        if (vm.state !== 'Stopped') throw apiErrors.internal(`VM ${vm.instanceName} is in ${vm.state} state, unable to start it`);
        const host = pickHost(rt, vm, hostid);
        vm.state = 'Starting';
        try {
          if (vm.libvirtDomain) await rt.hypervisor.start({ libvirtDomain: vm.libvirtDomain, domainXmlPath: vm.domainXmlPath });
          await rt.takeAMoment();
        } catch (e) {
          vm.state = 'Stopped';
          throw apiErrors.internal(`Unable to start VM instance ${vm.instanceName} due to error: ${e instanceof Error ? e.message : String(e)}`);
        }
        vm.state = 'Running';
        vm.hostId = host;
        vm.lastHostId = host;
        return { virtualmachine: vmView(rt.state, vm, caller) };
      });
      return { kind: 'async', jobid: job.id };
    },
  },

  stopVirtualMachine: {
    roles: ALL,
    params: { id: { type: 'uuid', required: true }, forced: { type: 'boolean' } },
    run(ctx) {
      const { rt, caller } = ctx;
      const vm = visibleVm(ctx);
      const job = rt.startJob(caller, { cmd: JOB_CLASS.stop, instanceType: 'VirtualMachine', instanceId: vm.id }, async () => {
        if (vm.state === 'Stopped') return { virtualmachine: vmView(rt.state, vm, caller) };
        if (vm.state !== 'Running') throw apiErrors.internal(`VM ${vm.instanceName} is in ${vm.state} state, unable to stop it`);
        vm.state = 'Stopping';
        try {
          if (vm.libvirtDomain) await rt.hypervisor.stop({ libvirtDomain: vm.libvirtDomain, domainXmlPath: vm.domainXmlPath }, { forced: ctx.args.forced === true });
          await rt.takeAMoment();
        } catch (e) {
          vm.state = 'Running';
          throw apiErrors.internal(`Unable to stop VM instance ${vm.instanceName} due to error: ${e instanceof Error ? e.message : String(e)}`);
        }
        vm.state = 'Stopped';
        vm.lastHostId = vm.hostId ?? vm.lastHostId;
        vm.hostId = undefined;
        return { virtualmachine: vmView(rt.state, vm, caller) };
      });
      return { kind: 'async', jobid: job.id };
    },
  },
};
