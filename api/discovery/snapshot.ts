/**
 * @layer logic
 * What one discovery pass saw in CloudStack, as rows for the store, and what changed since the
 * last pass: VMs added, renamed, migrated to another host, started/stopped, removed. Plain data:
 * CloudStack's list answers (root admin view) and the stored rows in, rows and changes out.
 * Disk paths come from the volume's pool (api/cloudstack/disk-location.ts); a pool Sendense
 * cannot read on a KVM host leaves the disk without a path.
 */
import { diskLocation } from '../cloudstack/disk-location.ts';
import type { Host, StoragePool, VirtualMachine, Volume } from '../cloudstack/schemas.ts';
import type { CloudStackVm, NewCloudStackHost, NewCloudStackVm, NewDisk, VmTag } from '../../db/schema.ts';

export interface CloudStackView {
  vms: VirtualMachine[];
  volumes: Volume[];
  pools: StoragePool[];
  hosts: Host[];
}

export interface VmChange {
  id: string;
  name: string;
  kind: 'added' | 'renamed' | 'migrated' | 'state' | 'removed';
  from?: string | null;
  to?: string | null;
}

export interface Snapshot {
  hosts: NewCloudStackHost[];
  vms: NewCloudStackVm[];
  disks: Map<string, NewDisk[]>;
  /** stored VMs no longer in CloudStack */
  removedVmIds: string[];
  changes: VmChange[];
}

function tagsOf(vm: VirtualMachine): VmTag[] {
  const raw = (vm as { tags?: unknown }).tags;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((t) => (t && typeof t === 'object' && typeof t.key === 'string' ? [{ key: t.key, value: String(t.value ?? '') }] : []));
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export function buildSnapshot(view: CloudStackView, stored: CloudStackVm[], at: Date): Snapshot {
  const hostById = new Map(view.hosts.map((h) => [h.id, h]));
  const poolById = new Map(view.pools.map((p) => [p.id, p]));
  const hosts: NewCloudStackHost[] = view.hosts.map((h) => ({
    id: h.id, name: h.name, ip: h.ipaddress ?? null, zoneId: h.zoneid ?? null, clusterId: h.clusterid ?? null,
    state: h.state ?? null, resourceState: h.resourcestate ?? null, hypervisorVersion: h.hypervisorversion ?? null, lastSeenAt: at,
  }));

  const kvm = view.vms.filter((v) => (v.hypervisor ?? 'KVM').toUpperCase() === 'KVM');
  const vms: NewCloudStackVm[] = kvm.map((v) => ({
    id: v.id, name: v.name, displayName: v.displayname ?? null, instanceName: v.instancename ?? null, state: v.state,
    zoneId: v.zoneid ?? null, zoneName: v.zonename ?? null, hostId: v.hostid ?? null,
    hostName: v.hostname ?? (v.hostid ? hostById.get(v.hostid)?.name ?? null : null),
    account: v.account ?? '', domainId: v.domainid ?? '', domainPath: str((v as { domainpath?: unknown }).domainpath),
    serviceOffering: v.serviceofferingname ?? null, template: v.templatename ?? null, tags: tagsOf(v), lastSeenAt: at,
  }));

  const disks = new Map<string, NewDisk[]>(vms.map((v) => [v.id, []]));
  for (const vol of view.volumes) {
    const list = vol.virtualmachineid ? disks.get(vol.virtualmachineid) : undefined;
    if (!list) continue;
    const pool = vol.storageid ? poolById.get(vol.storageid) : undefined;
    let loc: ReturnType<typeof diskLocation> | undefined;
    try { loc = pool && vol.path ? diskLocation(pool, vol.path) : undefined; } catch { loc = undefined; }
    list.push({
      id: vol.id, vmId: vol.virtualmachineid!, deviceId: Number(vol.deviceid ?? 0), name: vol.name, type: vol.type,
      sizeBytes: Number(vol.size ?? 0), kind: loc?.kind ?? null, path: loc?.path ?? null, format: loc?.format ?? null,
      poolId: pool?.id ?? vol.storageid ?? null, poolType: pool?.type ?? null, lastSeenAt: at,
    });
  }
  for (const list of disks.values()) list.sort((a, b) => a.deviceId - b.deviceId);

  const before = new Map(stored.map((v) => [v.id, v]));
  const changes: VmChange[] = [];
  for (const v of vms) {
    const old = before.get(v.id);
    if (!old || old.removedAt) { changes.push({ id: v.id, name: v.name, kind: 'added' }); continue; }
    if (old.name !== v.name) changes.push({ id: v.id, name: v.name, kind: 'renamed', from: old.name, to: v.name });
    if (old.hostId && v.hostId && old.hostId !== v.hostId) changes.push({ id: v.id, name: v.name, kind: 'migrated', from: old.hostId, to: v.hostId });
    if (old.state !== v.state) changes.push({ id: v.id, name: v.name, kind: 'state', from: old.state, to: v.state });
  }
  const seen = new Set(vms.map((v) => v.id));
  const removed = stored.filter((v) => !v.removedAt && !seen.has(v.id));
  for (const v of removed) changes.push({ id: v.id, name: v.name, kind: 'removed' });
  return { hosts, vms, disks, removedVmIds: removed.map((v) => v.id), changes };
}
