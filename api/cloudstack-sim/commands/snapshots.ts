/**
 * @layer usecase
 * VM snapshots (createVMSnapshot, deleteVMSnapshot, listVMSnapshot — items under `vmSnapshot`)
 * and volume snapshots (createSnapshot, deleteSnapshot, listSnapshots). Creates are async create
 * commands: they answer `{id, jobid}` at once and the job makes the snapshot Ready/BackedUp.
 * State only: the simulator does not touch disk files for snapshots.
 */
import { apiErrors } from '../api-error.ts';
import { checkAccess, listScope } from '../access.ts';
import type { SimRuntime } from '../runtime.ts';
import { snapshotView, vmSnapshotView } from '../views.ts';
import { ALL, LIST_PARAMS, SCOPE_PARAMS, listReply, matches, matchesKeyword, type CommandDef } from './command.ts';

/** yyyyMMddHHmmss in UTC, as CloudStack stamps snapshot names. */
function stamp(rt: SimRuntime): string {
  return rt.date().slice(0, 19).replace(/[-T:]/g, '');
}

const success = { success: true };

export const snapshotCommands: Record<string, CommandDef> = {
  createVMSnapshot: {
    roles: ALL,
    params: {
      virtualmachineid: { type: 'uuid', required: true }, name: { type: 'string' }, description: { type: 'string' },
      snapshotmemory: { type: 'boolean' }, quiescevm: { type: 'boolean' },
    },
    run({ rt, caller, args }) {
      const vm = rt.find(rt.state.vms, args.virtualmachineid, 'createVMSnapshot', 'virtualmachineid');
      checkAccess(rt.state, caller, vm.accountId, `VM ${vm.id}`);
      if (vm.state !== 'Running' && vm.state !== 'Stopped') throw apiErrors.invalidParameter(`Creating VM snapshot failed due to VM:${vm.id} is a system VM or does not exist or is not in Running/Stopped state`);
      if (args.snapshotmemory === true && vm.state !== 'Running') throw apiErrors.invalidParameter('Can not snapshot memory when VM is not in Running state');
      const name = `${vm.instanceName}_VS_${stamp(rt)}`;
      const parent = rt.state.vmSnapshots.find((s) => s.vmId === vm.id && s.current);
      const snap = {
        id: rt.newId(), name, displayName: typeof args.name === 'string' ? args.name : name, description: String(args.description ?? ''),
        vmId: vm.id, type: args.snapshotmemory === true ? 'DiskAndMemory' as const : 'Disk' as const, state: 'Allocated',
        current: false, parentId: parent?.id, created: rt.date(),
      };
      rt.state.vmSnapshots.push(snap);
      const job = rt.startJob(caller, { cmd: 'org.apache.cloudstack.api.command.user.vmsnapshot.CreateVMSnapshotCmd', instanceType: 'VMSnapshot', instanceId: snap.id }, async () => {
        snap.state = 'Creating';
        await rt.takeAMoment();
        for (const s of rt.state.vmSnapshots) if (s.vmId === vm.id) s.current = false;
        snap.state = 'Ready';
        snap.current = true;
        return { vmsnapshot: vmSnapshotView(rt.state, snap) };
      });
      return { kind: 'async', jobid: job.id, id: snap.id };
    },
  },

  deleteVMSnapshot: {
    roles: ALL,
    params: { vmsnapshotid: { type: 'uuid', required: true } },
    run({ rt, caller, args }) {
      const snap = rt.find(rt.state.vmSnapshots, args.vmsnapshotid, 'deleteVMSnapshot', 'vmsnapshotid');
      const vm = rt.state.vms.find((v) => v.id === snap.vmId)!;
      checkAccess(rt.state, caller, vm.accountId, `VMSnapshot ${snap.id}`);
      if (snap.state !== 'Ready') throw apiErrors.invalidParameter(`Can't delete the vm snapshot ${snap.displayName} due to it is not in Created or Error, or Expunging State`);
      const job = rt.startJob(caller, { cmd: 'org.apache.cloudstack.api.command.user.vmsnapshot.DeleteVMSnapshotCmd', instanceType: 'VMSnapshot', instanceId: snap.id }, async () => {
        snap.state = 'Expunging';
        await rt.takeAMoment();
        rt.state.vmSnapshots.splice(rt.state.vmSnapshots.indexOf(snap), 1);
        for (const s of rt.state.vmSnapshots) if (s.parentId === snap.id) s.parentId = snap.parentId;
        if (snap.current) { const p = rt.state.vmSnapshots.find((s) => s.id === snap.parentId); if (p) p.current = true; }
        return success;
      });
      return { kind: 'async', jobid: job.id };
    },
  },

  listVMSnapshot: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, vmsnapshotid: { type: 'uuid' }, virtualmachineid: { type: 'uuid' }, name: { type: 'string' }, state: { type: 'string' } },
    run({ rt, caller, args }) {
      const inScope = listScope(rt.state, caller, args);
      const items = rt.state.vmSnapshots
        .filter((s) => inScope(rt.state.vms.find((v) => v.id === s.vmId)!.accountId))
        .filter((s) => matches(args, { vmsnapshotid: s.id, virtualmachineid: s.vmId, name: s.displayName, state: s.state }))
        .filter((s) => matchesKeyword(args, s.displayName, s.name))
        .map((s) => vmSnapshotView(rt.state, s));
      return listReply('vmSnapshot', items, args, rt.state.settings.defaultPageSize);
    },
  },

  createSnapshot: {
    roles: ALL,
    params: { volumeid: { type: 'uuid', required: true }, name: { type: 'string' }, quiescevm: { type: 'boolean' } },
    run({ rt, caller, args }) {
      const vol = rt.find(rt.state.volumes, args.volumeid, 'createSnapshot', 'volumeid');
      checkAccess(rt.state, caller, vol.accountId, `Volume ${vol.id}`);
      if (vol.state !== 'Ready') throw apiErrors.invalidParameter(`VolumeId: ${vol.id} is not in Ready state but ${vol.state}. Cannot take snapshot.`);
      const vm = rt.state.vms.find((v) => v.id === vol.vmId);
      const snap = { id: rt.newId(), name: typeof args.name === 'string' ? args.name : `${vm ? `${vm.name}_` : ''}${vol.name}_${stamp(rt)}`, volumeId: vol.id, state: 'Allocated', created: rt.date() };
      rt.state.snapshots.push(snap);
      const job = rt.startJob(caller, { cmd: 'org.apache.cloudstack.api.command.user.snapshot.CreateSnapshotCmd', instanceType: 'Snapshot', instanceId: snap.id }, async () => {
        snap.state = 'Creating';
        await rt.takeAMoment();
        snap.state = 'BackedUp';
        return { snapshot: snapshotView(rt.state, snap) };
      });
      return { kind: 'async', jobid: job.id, id: snap.id };
    },
  },

  deleteSnapshot: {
    roles: ALL,
    params: { id: { type: 'uuid', required: true } },
    run({ rt, caller, args }) {
      const snap = rt.find(rt.state.snapshots, args.id, 'deleteSnapshot', 'id');
      const vol = rt.state.volumes.find((v) => v.id === snap.volumeId)!;
      checkAccess(rt.state, caller, vol.accountId, `Snapshot ${snap.id}`);
      const job = rt.startJob(caller, { cmd: 'org.apache.cloudstack.api.command.user.snapshot.DeleteSnapshotCmd', instanceType: 'Snapshot', instanceId: snap.id }, async () => {
        await rt.takeAMoment();
        const i = rt.state.snapshots.indexOf(snap);
        if (i >= 0) rt.state.snapshots.splice(i, 1);
        return success;
      });
      return { kind: 'async', jobid: job.id };
    },
  },

  listSnapshots: {
    roles: ALL,
    params: { ...LIST_PARAMS, ...SCOPE_PARAMS, id: { type: 'uuid' }, volumeid: { type: 'uuid' }, name: { type: 'string' }, snapshottype: { type: 'string' } },
    run({ rt, caller, args }) {
      const inScope = listScope(rt.state, caller, args);
      const items = rt.state.snapshots
        .filter((s) => inScope(rt.state.volumes.find((v) => v.id === s.volumeId)!.accountId))
        .filter((s) => matches(args, { id: s.id, volumeid: s.volumeId, name: s.name }) && (args.snapshottype === undefined || args.snapshottype === 'MANUAL'))
        .filter((s) => matchesKeyword(args, s.name))
        .map((s) => snapshotView(rt.state, s));
      return listReply('snapshot', items, args, rt.state.settings.defaultPageSize);
    },
  },
};
