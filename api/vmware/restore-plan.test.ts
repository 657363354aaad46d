import { describe, expect, it } from 'vitest';
import { VmwareVm } from '../../agent/vmware/metadata.ts';
import { nearestOffering, restorePlan } from './restore-plan.ts';

const vm = VmwareVm.parse({
  name: 'db-01', instance_uuid: null, bios_uuid: null, guest_os_id: 'windows2019srv_64Guest', cpus: 4, memory_mib: 8192, firmware: 'efi', hardware_version: 'vmx-19',
  disks: [
    { key: 'scsi0:0', file: 'db-01.vmdk', controller: 'scsi', controller_model: 'pvscsi', bus: 0, unit: 0, capacity: 2 ** 34, vmdk_format: 'monolithicSparse' },
    { key: 'scsi0:1', file: 'db-01_1.vmdk', controller: 'scsi', controller_model: 'pvscsi', bus: 0, unit: 1, capacity: 2 ** 33, vmdk_format: 'monolithicFlat' },
  ],
  nics: [{ network: 'Prod', adapter_type: 'vmxnet3', mac: '00:0c:29:01:02:03' }],
  source: { kind: 'vmx', file: 'db-01.vmx' },
});
const offerings = [
  { id: 'o1', name: 'Small', cpuNumber: 1, memory: 1024 }, { id: 'o2', name: 'Large', cpuNumber: 4, memory: 16384 },
  { id: 'o3', name: 'Medium', cpuNumber: 4, memory: 8192 }, { id: 'o4', name: 'XL', cpuNumber: 8, memory: 32768 },
];
const base = {
  vm, offerings,
  disks: [{ index: 0, target: 'vda', virtual_size: 2 ** 34, vmware_device: 'scsi0:0' }, { index: 1, target: 'vdb', virtual_size: 2 ** 33, vmware_device: 'scsi0:1' }],
  zones: [{ id: 'z1', name: 'zone-1' }],
  networks: [{ id: 'n1', name: 'guest-net', zoneId: 'z1' }, { id: 'n2', name: 'other-zone', zoneId: 'z2' }],
};

describe('cross-platform restore plan', () => {
  it('nearest offering: exact, else the smallest larger, else the largest said to be smaller', () => {
    expect(nearestOffering(offerings, 4, 8192)).toMatchObject({ id: 'o3', fit: 'exact' });
    expect(nearestOffering(offerings, 2, 2048)).toMatchObject({ id: 'o3', fit: 'larger' });
    expect(nearestOffering(offerings, 16, 1024)).toMatchObject({ id: 'o4', fit: 'smaller', note: expect.stringMatching(/no offering holds the VM's 16 CPUs/) });
    expect(nearestOffering([], 1, 1)).toBeNull();
  });
  it('blocks until the admin maps every VMware network; a Windows guest without virtio drivers gets SATA + e1000 and is told why', () => {
    const p = restorePlan(base);
    expect(p.ready).toBe(false);
    expect(p.blockers).toEqual(["choose the CloudStack network for VMware network 'Prod' (NIC 1, 00:0c:29:01:02:03): guest-net (n1)"]);
    expect(p.zone).toEqual({ id: 'z1', name: 'zone-1' });
    expect(p.serviceOffering).toMatchObject({ id: 'o3', fit: 'exact' });
    expect(p.boot).toMatchObject({ type: 'UEFI', mode: 'LEGACY' });
    expect(p.disks.map((d) => [d.target, d.role, d.kvmController, d.via])).toEqual([['vda', 'root', 'sata', 'template'], ['vdb', 'data', 'sata', 'volume']]);
    expect(p.nics[0]).toMatchObject({ kvmModel: 'e1000', network: null, choices: [{ id: 'n1' }] });
    expect(p.templateDetails).toEqual({ rootDiskController: 'sata', dataDiskController: 'sata', nicAdapter: 'e1000' });
    expect(p.guest.needs[0]).toMatch(/install the virtio-win drivers \(viostor, vioscsi, NetKVM\)/);
    expect(p.guest.needs.join(' ')).toMatch(/OVMF/);
  });
  it('ready once mapped; virtio when the drivers are there; a network of another zone refused', () => {
    const p = restorePlan({ ...base, networkMap: { Prod: 'n1' }, virtioDrivers: true });
    expect(p.ready).toBe(true);
    expect(p.nics[0]).toMatchObject({ kvmModel: 'virtio', network: { id: 'n1' } });
    expect(p.disks.every((d) => d.kvmController === 'virtio')).toBe(true);
    const q = restorePlan({ ...base, networkMap: { Prod: 'n2' } });
    expect(q.blockers).toEqual(["network n2, chosen for VMware network 'Prod', is not a network of zone zone-1"]);
    const r = restorePlan({ ...base, zones: [...base.zones, { id: 'z2', name: 'zone-2' }], networkMap: { Prod: 'n1' } });
    expect(r.blockers[0]).toMatch(/^choose the target zone \(zoneId\): zone-1 \(z1\), zone-2 \(z2\)/);
  });
});
