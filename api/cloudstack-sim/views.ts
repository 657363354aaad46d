/**
 * @layer logic
 * The simulator's objects as CloudStack's API shows them to a given caller: field names and
 * shapes of CloudStack 4.19–4.22 responses. Fields only root admins receive (ResponseView.Full):
 * a VM's instancename, hostid, hostname; a volume's path, storageid, storage; a zone's token.
 */
import { domainDisplayPath, ROLE_IDS, ROLE_NAMES, roleOf, type Caller } from './access.ts';
import type {
  AccountState, DomainState, HostState, SimState, SnapshotState, StoragePoolState, UserState, VmSnapshotState, VmState, VolumeState, ZoneState,
} from './state.ts';

export type View = Record<string, unknown>;

const DEFAULT_CREATED = '2024-01-01T00:00:00+0000';

function owner(s: SimState, accountId: string): View {
  const a = s.accounts.find((x) => x.id === accountId)!;
  const d = s.domains.find((x) => x.id === a.domainId)!;
  return { account: a.name, domainid: d.id, domain: d.name, domainpath: domainDisplayPath(s, d.id) };
}

const zoneName = (s: SimState, id: string) => s.zones.find((z) => z.id === id)?.name;

export function zoneView(z: ZoneState, caller: Caller): View {
  return {
    id: z.id, name: z.name, networktype: z.networktype, securitygroupsenabled: false, allocationstate: 'Enabled',
    ...(caller.rootAdmin ? { zonetoken: `zt-${z.id.slice(0, 8)}` } : {}),
    dhcpprovider: 'VirtualRouter', localstorageenabled: false, type: 'Core', tags: [],
  };
}

export function hostView(s: SimState, h: HostState): View {
  return {
    id: h.id, name: h.name, state: h.state, type: 'Routing', ipaddress: h.ip, zoneid: h.zoneId, zonename: zoneName(s, h.zoneId),
    podid: h.podId, podname: 'pod1', clusterid: h.clusterId, clustername: 'cluster1', clustertype: 'CloudManaged',
    hypervisor: 'KVM', hypervisorversion: h.hypervisorVersion, resourcestate: h.resourceState, version: s.settings.cloudstackVersion,
    created: DEFAULT_CREATED, cpunumber: 2, cpuspeed: 2000, memorytotal: 8 * 2 ** 30, islocalstorageactive: false,
  };
}

export function poolView(s: SimState, p: StoragePoolState): View {
  const used = s.volumes.filter((v) => v.poolId === p.id).reduce((n, v) => n + (v.physicalSize ?? v.size), 0);
  return {
    id: p.id, zoneid: p.zoneId, zonename: zoneName(s, p.zoneId), podid: s.hosts[0]?.podId, clusterid: p.clusterId ?? s.hosts.find((h) => h.zoneId === p.zoneId)?.clusterId,
    name: p.name, ipaddress: p.ipaddress, path: p.path, created: DEFAULT_CREATED, type: p.type, state: 'Up', scope: p.scope,
    hypervisor: 'KVM', disksizetotal: p.capacityBytes, disksizeallocated: used, disksizeused: used, overprovisionfactor: '2.0',
    storagecapabilities: { VOLUME_SNAPSHOT_QUIESCEVM: 'false' },
  };
}

export function vmView(s: SimState, vm: VmState, caller: Caller): View {
  const off = s.serviceOfferings.find((o) => o.id === vm.serviceOfferingId);
  const tmpl = s.templates.find((t) => t.id === vm.templateId);
  const host = s.hosts.find((h) => h.id === vm.hostId);
  const user = s.users.find((u) => u.accountId === vm.accountId);
  return {
    id: vm.id, name: vm.name, displayname: vm.displayName ?? vm.name, ...owner(s, vm.accountId),
    userid: user?.id, username: user?.username, created: vm.created ?? DEFAULT_CREATED, state: vm.state, haenable: false,
    zoneid: vm.zoneId, zonename: zoneName(s, vm.zoneId),
    ...(caller.rootAdmin && host && (vm.state === 'Running' || vm.state === 'Stopping') ? { hostid: host.id, hostname: host.name } : {}),
    templateid: vm.templateId, templatename: tmpl?.name, templatedisplaytext: tmpl?.name, passwordenabled: false,
    serviceofferingid: vm.serviceOfferingId, serviceofferingname: off?.name, cpunumber: off?.cpuNumber, cpuspeed: off?.cpuSpeed, memory: off?.memory,
    guestosid: 'c5a1c0de-0000-4000-8000-000000000001', osdisplayname: tmpl?.osTypeName, rootdeviceid: 0, rootdevicetype: 'ROOT',
    securitygroup: [], nic: [], hypervisor: 'KVM', tags: [], affinitygroup: [], isdynamicallyscalable: false,
    ...(caller.rootAdmin ? { instancename: vm.instanceName } : {}),
  };
}

export function volumeView(s: SimState, v: VolumeState, caller: Caller): View {
  const vm = s.vms.find((x) => x.id === v.vmId);
  const pool = s.storagePools.find((p) => p.id === v.poolId);
  return {
    id: v.id, name: v.name, zoneid: v.zoneId, zonename: zoneName(s, v.zoneId), type: v.type,
    ...(vm ? { deviceid: v.deviceId, virtualmachineid: vm.id, vmname: vm.name, vmdisplayname: vm.displayName ?? vm.name, vmstate: vm.state, vmtype: 'User' } : {}),
    provisioningtype: 'thin', size: v.size, ...(v.physicalSize !== undefined ? { physicalsize: v.physicalSize } : {}),
    created: v.created ?? DEFAULT_CREATED, state: v.state, ...(v.status !== undefined ? { status: v.status } : {}), ...owner(s, v.accountId),
    storagetype: pool && pool.scope === 'HOST' ? 'local' : 'shared', hypervisor: pool ? 'KVM' : 'None',
    destroyed: false, isextractable: true, supportsstoragesnapshot: false, quiescevm: false,
    ...(caller.rootAdmin ? { displayvolume: true } : {}),
    ...(caller.rootAdmin && pool ? { storage: pool.name, storageid: pool.id, path: v.path, clusterid: pool.clusterId } : {}),
  };
}

export function vmSnapshotView(s: SimState, snap: VmSnapshotState): View {
  const vm = s.vms.find((x) => x.id === snap.vmId)!;
  const parent = s.vmSnapshots.find((x) => x.id === snap.parentId);
  return {
    id: snap.id, name: snap.name, state: snap.state, description: snap.description, displayname: snap.displayName,
    created: snap.created, current: snap.current, ...(parent ? { parent: parent.id, parentName: parent.displayName } : {}),
    type: snap.type, virtualmachineid: vm.id, virtualmachinename: vm.displayName ?? vm.name, ...owner(s, vm.accountId),
    zoneid: vm.zoneId, hypervisor: 'KVM', tags: [],
  };
}

export function snapshotView(s: SimState, snap: SnapshotState): View {
  const vol = s.volumes.find((v) => v.id === snap.volumeId)!;
  return {
    id: snap.id, name: snap.name, ...owner(s, vol.accountId), snapshottype: 'MANUAL', intervaltype: 'MANUAL',
    volumeid: vol.id, volumename: vol.name, volumetype: vol.type, volumestate: vol.state, created: snap.created, state: snap.state,
    zoneid: vol.zoneId, zonename: zoneName(s, vol.zoneId), physicalsize: vol.physicalSize ?? vol.size, virtualsize: vol.size,
    locationtype: 'Primary', revertable: false, tags: [],
  };
}

export function userView(s: SimState, u: UserState, caller: Caller): View {
  const a = s.accounts.find((x) => x.id === u.accountId)!;
  const role = roleOf(a);
  const seesKeys = caller.rootAdmin || caller.user.id === u.id || caller.role === 'DomainAdmin';
  return {
    id: u.id, username: u.username, firstname: u.firstname, lastname: u.lastname, email: u.email, created: u.created ?? DEFAULT_CREATED,
    state: u.state, account: a.name, accounttype: a.type, usersource: 'native', roleid: ROLE_IDS[role], roletype: role, rolename: ROLE_NAMES[role],
    domainid: a.domainId, domain: s.domains.find((d) => d.id === a.domainId)?.name, accountid: a.id,
    ...(seesKeys && u.apiKey ? { apikey: u.apiKey } : {}),
    iscallerchilddomain: false, isdefault: a.type === 1 && u.username === 'admin',
    is2faenabled: !!u.twoFactor, is2famandated: false, ...(u.twoFactor ? { providerfor2fa: u.twoFactor.provider } : {}),
  };
}

export function accountView(s: SimState, a: AccountState): View {
  const role = roleOf(a);
  const d = s.domains.find((x) => x.id === a.domainId)!;
  return {
    id: a.id, name: a.name, accounttype: a.type, roleid: ROLE_IDS[role], roletype: role, rolename: ROLE_NAMES[role],
    domainid: d.id, domain: d.name, domainpath: domainDisplayPath(s, d.id), state: a.state, isdefault: a.type === 1,
    user: s.users.filter((u) => u.accountId === a.id).map((u) => ({ id: u.id, username: u.username, state: u.state, accountid: a.id, account: a.name })),
    vmtotal: s.vms.filter((v) => v.accountId === a.id).length,
  };
}

export function domainView(s: SimState, d: DomainState): View {
  const parent = s.domains.find((x) => x.id === d.parentId);
  const level = domainDisplayPath(s, d.id).split('/').length - 1;
  return {
    id: d.id, name: d.name, level, ...(parent ? { parentdomainid: parent.id, parentdomainname: parent.name } : {}),
    haschild: s.domains.some((x) => x.parentId === d.id), path: domainDisplayPath(s, d.id), state: d.state,
  };
}
