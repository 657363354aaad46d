/**
 * @layer usecase
 * resolveVmForAgent: everything the agent on a KVM host needs to back up one CloudStack VM —
 * its host (id, name, IP), its libvirt domain (instancename) and each disk: device id → volume →
 * where it lives on the host (see disk-location.ts).
 *
 * The fields it reads are root-admin-only (instancename, hostid, volume path, storageid): with a
 * key of a lesser role CloudStack leaves them out and this fails saying which one is missing.
 * A stopped VM has no hostid: any Up KVM host that reaches the root volume's pool will do
 * (same cluster for a cluster-scoped pool, same zone for a zone-wide one).
 */
import { CloudStackError } from './errors.ts';
import { diskLocation, type DiskFormat, type DiskKind } from './disk-location.ts';
import type { CallOptions, CloudStackApi } from './port.ts';
import type { Host, StoragePool, VirtualMachine } from './schemas.ts';

export interface AgentDisk {
  deviceId: number;
  volumeId: string;
  name: string;
  /** ROOT or DATADISK */
  type: string;
  size: number;
  kind: DiskKind;
  /** on the host: a file, `rbd:<pool>/<image>`, or a block device */
  path: string;
  format: DiskFormat;
  poolId: string;
  poolType: string;
}

export interface AgentVm {
  vmId: string;
  name: string;
  state: string;
  /** the libvirt domain name */
  instanceName: string;
  host: { id: string; name: string; ip: string };
  /** true when `host` is where the VM runs now; false when it is stopped and `host` can reach its disks */
  hostIsCurrent: boolean;
  disks: AgentDisk[];
}

type Needs = Pick<CloudStackApi, 'getVirtualMachine' | 'listVolumes' | 'getStoragePool' | 'getHost' | 'listKvmHosts'>;

function missing(vmId: string, what: string): CloudStackError {
  return new CloudStackError({
    kind: 'protocol', command: 'resolveVmForAgent',
    errortext: `VM ${vmId}: CloudStack did not return ${what} (only root admins see it: use a root admin's keys)`,
  });
}

export async function resolveVmForAgent(cs: Needs, vmId: string, opts: CallOptions = {}): Promise<AgentVm> {
  const vm: VirtualMachine = await cs.getVirtualMachine(vmId, opts);
  if (!vm.instancename) throw missing(vmId, 'instancename');
  const volumes = (await cs.listVolumes({ virtualmachineid: vm.id }, opts))
    .sort((a, b) => Number(a.deviceid ?? 0) - Number(b.deviceid ?? 0));
  if (volumes.length === 0) throw new CloudStackError({ kind: 'notfound', command: 'resolveVmForAgent', errortext: `VM ${vmId} has no volumes` });

  const pools = new Map<string, StoragePool>();
  const disks: AgentDisk[] = [];
  for (const v of volumes) {
    if (!v.storageid) throw missing(vmId, `storageid of volume ${v.id}`);
    if (v.path === undefined) throw missing(vmId, `path of volume ${v.id}`);
    let pool = pools.get(v.storageid);
    if (!pool) {
      pool = await cs.getStoragePool(v.storageid, opts);
      pools.set(pool.id, pool);
    }
    const loc = diskLocation(pool, v.path);
    disks.push({
      deviceId: Number(v.deviceid ?? 0), volumeId: v.id, name: v.name, type: v.type, size: Number(v.size ?? 0),
      kind: loc.kind, path: loc.path, format: loc.format, poolId: pool.id, poolType: pool.type,
    });
  }

  let host: Host;
  let hostIsCurrent = true;
  if (vm.hostid) {
    host = await cs.getHost(vm.hostid, opts);
  } else {
    hostIsCurrent = false;
    const root = disks.find((d) => d.type === 'ROOT') ?? disks[0];
    const pool = pools.get(root.poolId)!;
    const hosts = (await cs.listKvmHosts({ zoneid: vm.zoneid ?? pool.zoneid }, opts))
      .filter((h) => (h.state ?? 'Up') === 'Up' && (h.resourcestate ?? 'Enabled') === 'Enabled')
      .filter((h) => pool.scope !== 'CLUSTER' || !pool.clusterid || h.clusterid === pool.clusterid);
    if (pool.scope === 'HOST' || hosts.length === 0) {
      throw new CloudStackError({
        kind: 'notfound', command: 'resolveVmForAgent',
        errortext: `VM ${vmId} is stopped and no Up KVM host reaches its ${pool.scope ?? ''} pool ${pool.id}${pool.scope === 'HOST' ? ' (local storage: start the VM or name the host)' : ''}`,
      });
    }
    host = hosts[0];
  }
  if (!host.ipaddress) throw missing(vmId, `the IP address of host ${host.id}`);
  return {
    vmId: vm.id, name: vm.name, state: vm.state, instanceName: vm.instancename,
    host: { id: host.id, name: host.name, ip: host.ipaddress }, hostIsCurrent, disks,
  };
}
