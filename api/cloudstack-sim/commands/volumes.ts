/**
 * @layer usecase
 * Volumes: listVolumes, and attachVolume (async) which also moves an uploaded volume to the
 * VM's primary storage (state Uploaded → Ready), as CloudStack does on first attach.
 */
import { apiErrors } from '../api-error.ts';
import { checkAccess, listScope } from '../access.ts';
import { volumeView } from '../views.ts';
import { ALL, LIST_PARAMS, SCOPE_PARAMS, listReply, matches, matchesKeyword, type CommandDef } from './command.ts';

export const volumeCommands: Record<string, CommandDef> = {
  listVolumes: {
    roles: ALL,
    params: {
      ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, name: { type: 'string' }, virtualmachineid: { type: 'uuid' },
      type: { type: 'string' }, zoneid: { type: 'uuid' }, storageid: { type: 'uuid' }, state: { type: 'string' },
    },
    run({ rt, caller, args }) {
      if (args.id !== undefined) rt.find(rt.state.volumes, args.id, 'listVolumes', 'id');
      if (args.virtualmachineid !== undefined) rt.find(rt.state.vms, args.virtualmachineid, 'listVolumes', 'virtualmachineid');
      const inScope = listScope(rt.state, caller, args);
      const items = rt.state.volumes
        .filter((v) => inScope(v.accountId))
        .filter((v) => matches(args, { id: v.id, name: v.name, virtualmachineid: v.vmId, type: v.type, zoneid: v.zoneId, state: v.state }))
        .filter((v) => !caller.rootAdmin || args.storageid === undefined || v.poolId === args.storageid)
        .filter((v) => matchesKeyword(args, v.name))
        .map((v) => volumeView(rt.state, v, caller));
      return listReply('volume', items, args, rt.state.settings.defaultPageSize);
    },
  },

  attachVolume: {
    roles: ALL,
    params: { id: { type: 'uuid', required: true }, virtualmachineid: { type: 'uuid', required: true }, deviceid: { type: 'integer' } },
    run({ rt, caller, args }) {
      const vol = rt.find(rt.state.volumes, args.id, 'attachVolume', 'id');
      const vm = rt.find(rt.state.vms, args.virtualmachineid, 'attachVolume', 'virtualmachineid');
      checkAccess(rt.state, caller, vol.accountId, `Volume ${vol.id}`);
      checkAccess(rt.state, caller, vm.accountId, `VM ${vm.id}`);
      if (vol.vmId) throw apiErrors.invalidParameter(`Volume ${vol.name} is already attached to a VM`);
      if (!['Allocated', 'Ready', 'Uploaded'].includes(vol.state)) {
        throw apiErrors.invalidParameter(`Volume: ${vol.name} is in ${vol.state} state, not in Allocated, Ready or Uploaded state`);
      }
      const used = new Set(rt.state.volumes.filter((v) => v.vmId === vm.id).map((v) => v.deviceId));
      let deviceId = args.deviceid as number | undefined;
      if (deviceId !== undefined && used.has(deviceId)) throw apiErrors.invalidParameter(`deviceId ${deviceId} is used by VM ${vm.name}`);
      if (deviceId === undefined) for (deviceId = 1; used.has(deviceId) || deviceId === 3; deviceId++);
      const root = rt.state.volumes.find((v) => v.vmId === vm.id && v.type === 'ROOT');
      const job = rt.startJob(caller, { cmd: 'org.apache.cloudstack.api.command.user.volume.AttachVolumeCmd', instanceType: 'Volume', instanceId: vol.id }, async () => {
        await rt.takeAMoment();
        if (vol.state === 'Uploaded') {
          vol.poolId = root?.poolId ?? rt.state.storagePools.find((p) => p.zoneId === vm.zoneId)?.id;
          vol.path = rt.newId();
          vol.state = 'Ready';
        }
        vol.vmId = vm.id;
        vol.deviceId = deviceId;
        return { volume: volumeView(rt.state, vol, caller) };
      });
      return { kind: 'async', jobid: job.id };
    },
  },
};
